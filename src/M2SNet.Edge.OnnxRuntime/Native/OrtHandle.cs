using System.Runtime.InteropServices;

namespace M2SNet.Edge.OnnxRuntime.Native;

/// <summary>
/// Owner of one native ORT object. Every subclass releases through its own table entry; the
/// process-wide <see cref="Live"/> count lets tests prove that nothing leaks.
/// </summary>
internal abstract unsafe class OrtHandle : SafeHandle
{
    private static long s_live;

    protected OrtHandle() : base(0, ownsHandle: true)
    {
    }

    /// <summary>Native ORT objects currently owned by handles of this binding.</summary>
    public static long Live => Interlocked.Read(ref s_live);

    public override bool IsInvalid => handle == 0;

    protected static OrtApi Api => OrtEnvironment.Instance.Api;

    /// <summary>Takes ownership of a pointer ORT just returned.</summary>
    public void Adopt(nint native)
    {
        if (native == 0) throw new InvalidOperationException("ONNX Runtime returned a null object without an error status");
        SetHandle(native);
        Interlocked.Increment(ref s_live);
    }

    protected sealed override bool ReleaseHandle()
    {
        Release(handle);
        Interlocked.Decrement(ref s_live);
        return true;
    }

    protected abstract void Release(nint native);
}

internal sealed unsafe class SessionHandle : OrtHandle
{
    protected override void Release(nint native) => Api.ReleaseSession(native);
}

internal sealed unsafe class SessionOptionsHandle : OrtHandle
{
    protected override void Release(nint native) => Api.ReleaseSessionOptions(native);
}

internal sealed unsafe class ValueHandle : OrtHandle
{
    protected override void Release(nint native) => Api.ReleaseValue(native);
}

internal sealed unsafe class RunOptionsHandle : OrtHandle
{
    protected override void Release(nint native) => Api.ReleaseRunOptions(native);
}

internal sealed unsafe class TypeInfoHandle : OrtHandle
{
    protected override void Release(nint native) => Api.ReleaseTypeInfo(native);
}

internal sealed unsafe class TensorTypeAndShapeHandle : OrtHandle
{
    protected override void Release(nint native) => Api.ReleaseTensorTypeAndShapeInfo(native);
}

internal sealed unsafe class IoBindingHandle : OrtHandle
{
    protected override void Release(nint native) => Api.ReleaseIoBinding(native);
}

internal sealed unsafe class ModelMetadataHandle : OrtHandle
{
    protected override void Release(nint native) => Api.ReleaseModelMetadata(native);
}

internal sealed unsafe class CudaProviderOptionsHandle : OrtHandle
{
    protected override void Release(nint native) => Api.ReleaseCudaProviderOptions(native);
}

internal sealed unsafe class TensorRTProviderOptionsHandle : OrtHandle
{
    protected override void Release(nint native) => Api.ReleaseTensorRTProviderOptions(native);
}
