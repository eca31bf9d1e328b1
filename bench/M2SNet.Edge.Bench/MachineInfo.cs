using System.Runtime.InteropServices;
using System.Text.Json.Serialization;

namespace M2SNet.Edge.Bench;

/// <summary>What the figures were measured on; absolute times mean something only with this.</summary>
public sealed record MachineInfo(
    [property: JsonPropertyName("cpu")] string Cpu,
    [property: JsonPropertyName("logical_cores")] int LogicalCores,
    [property: JsonPropertyName("os")] string Os,
    [property: JsonPropertyName("runtime")] string Runtime)
{
    public static MachineInfo Current()
    {
        var cpu = "unknown";
        if (File.Exists("/proc/cpuinfo"))
        {
            cpu = File.ReadLines("/proc/cpuinfo")
                .FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? cpu;
        }
        return new MachineInfo(cpu, Environment.ProcessorCount, RuntimeInformation.OSDescription, RuntimeInformation.FrameworkDescription);
    }
}
