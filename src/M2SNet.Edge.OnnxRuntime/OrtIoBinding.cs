using M2SNet.Edge.OnnxRuntime.Native;

namespace M2SNet.Edge.OnnxRuntime;

/// <summary>
/// Inputs and outputs bound once to a session and reused for every run: the per-frame path of
/// the daemon, where the buffers stay the same and only their contents change.
/// The bound values must outlive the binding's use.
/// </summary>
public sealed unsafe class OrtIoBinding : IDisposable
{
    private readonly InferenceSession _session;
    private readonly IoBindingHandle _handle;

    internal OrtIoBinding(InferenceSession session, IoBindingHandle handle)
    {
        _session = session;
        _handle = handle;
        // ORT's binding points into its session: keep the native session alive while the binding lives.
        var added = false;
        session.NativeSession.DangerousAddRef(ref added);
    }

    internal nint Handle => _handle.DangerousGetHandle();

    public void BindInput(string name, OrtValue value)
    {
        var api = OrtEnvironment.Instance.Api;
        api.Check(api.BindInput(Handle, _session.InputName(name), value.Handle));
    }

    public void BindOutput(string name, OrtValue value)
    {
        var api = OrtEnvironment.Instance.Api;
        api.Check(api.BindOutput(Handle, _session.OutputName(name), value.Handle));
    }

    public void ClearBoundInputs() => OrtEnvironment.Instance.Api.ClearBoundInputs(Handle);

    public void ClearBoundOutputs() => OrtEnvironment.Instance.Api.ClearBoundOutputs(Handle);

    public void Dispose()
    {
        if (_handle.IsClosed) return;
        _handle.Dispose();
        _session.NativeSession.DangerousRelease();
    }
}
