using System.Runtime.InteropServices;
using M2SNet.Edge.OnnxRuntime.Native;

namespace M2SNet.Edge.OnnxRuntime;

/// <summary>Per-run settings; <see cref="Terminate"/> stops runs in flight from another thread.</summary>
public sealed unsafe class RunOptions : IDisposable
{
    private readonly RunOptionsHandle _handle = new();
    private bool _terminate;

    public RunOptions()
    {
        var api = OrtEnvironment.Instance.Api;
        nint native;
        api.Check(api.CreateRunOptions(&native));
        _handle.Adopt(native);
    }

    internal nint Handle => _handle.DangerousGetHandle();

    /// <summary>Tag that prefixes ORT's log lines for runs with these options.</summary>
    public string LogTag
    {
        get
        {
            var api = OrtEnvironment.Instance.Api;
            byte* tag;
            api.Check(api.RunOptionsGetRunTag(Handle, &tag));
            return Marshal.PtrToStringUTF8((nint)tag) ?? string.Empty;
        }
        set
        {
            var api = OrtEnvironment.Instance.Api;
            using var strings = new Utf8Strings();
            api.Check(api.RunOptionsSetRunTag(Handle, strings.Add(value)));
        }
    }

    /// <summary>While true, every run using these options fails promptly with an error.</summary>
    public bool Terminate
    {
        get => _terminate;
        set
        {
            var api = OrtEnvironment.Instance.Api;
            api.Check(value ? api.RunOptionsSetTerminate(Handle) : api.RunOptionsUnsetTerminate(Handle));
            _terminate = value;
        }
    }

    public void Dispose() => _handle.Dispose();
}
