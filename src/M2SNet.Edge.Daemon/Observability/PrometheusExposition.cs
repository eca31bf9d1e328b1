using System.Globalization;
using System.Text;
using M2SNet.Edge.Daemon.Pipeline;
using M2SNet.Edge.Daemon.Streaming;

namespace M2SNet.Edge.Daemon.Observability;

/// <summary>The daemon's state in Prometheus's text exposition format (version 0.0.4), for GET /metrics.</summary>
public sealed class PrometheusExposition(PipelineMetrics metrics, MaskPublisher publisher, ActivePipeline active, DaemonState state, Services.UnfinishedMessages unfinished)
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    public string Render()
    {
        var t = new StringBuilder(8192);
        Help(t, "m2s_stage_latency_seconds", "histogram", "Time a frame spends in each pipeline stage; 'queued' is waiting in hand-offs, 'capture_to_publish' the whole pipeline.");
        metrics.Preprocess.WriteTo(t, "m2s_stage_latency_seconds", "stage=\"preprocess\"");
        metrics.Inference.WriteTo(t, "m2s_stage_latency_seconds", "stage=\"inference\"");
        metrics.Postprocess.WriteTo(t, "m2s_stage_latency_seconds", "stage=\"postprocess\"");
        metrics.Queued.WriteTo(t, "m2s_stage_latency_seconds", "stage=\"queued\"");
        metrics.CaptureToPublish.WriteTo(t, "m2s_stage_latency_seconds", "stage=\"capture_to_publish\"");
        metrics.Encode.WriteTo(t, "m2s_stage_latency_seconds", "stage=\"encode\"");
        metrics.CaptureToSend.WriteTo(t, "m2s_stage_latency_seconds", "stage=\"capture_to_send\"");

        Help(t, "m2s_pipeline_fps", "gauge", "Frames per second segmented, over the last frames.");
        Line(t, "m2s_pipeline_fps", "", metrics.Fps);
        Help(t, "m2s_frames_segmented_total", "counter", "Frames that went through the whole pipeline.");
        Line(t, "m2s_frames_segmented_total", "", metrics.FramesSegmented);

        var source = active.Source;
        Help(t, "m2s_frames_captured_total", "counter", "Frames read from the video source.");
        Line(t, "m2s_frames_captured_total", "", source?.FramesRead ?? 0);
        Help(t, "m2s_source_reconnects_total", "counter", "Times the video source was reopened after a loss.");
        Line(t, "m2s_source_reconnects_total", "", source?.Reconnects ?? 0);
        Help(t, "m2s_source_up", "gauge", "1 while the video source delivers frames.");
        Line(t, "m2s_source_up", "", state.SourceState == "streaming" ? 1 : 0);

        Help(t, "m2s_pipeline_frames_dropped_total", "counter", "Frames replaced at a hand-off because the next stage was busy (the newest frame wins).");
        var dropped = active.Pipeline?.Dropped ?? (0, 0, 0);
        Line(t, "m2s_pipeline_frames_dropped_total", "before=\"preprocess\"", dropped.BeforePreprocess);
        Line(t, "m2s_pipeline_frames_dropped_total", "before=\"inference\"", dropped.BeforeInference);
        Line(t, "m2s_pipeline_frames_dropped_total", "before=\"postprocess\"", dropped.BeforePostprocess);

        var subscribers = publisher.Subscribers;
        Help(t, "m2s_subscribers", "gauge", "Clients streaming masks now.");
        Line(t, "m2s_subscribers", "", subscribers.Count);
        Help(t, "m2s_client_frames_sent_total", "counter", "Messages sent to each connected client.");
        foreach (var s in subscribers) Line(t, "m2s_client_frames_sent_total", ClientLabels(s), s.Sent);
        Help(t, "m2s_client_frames_dropped_total", "counter", "Frames a connected client missed because it read too slowly.");
        foreach (var s in subscribers) Line(t, "m2s_client_frames_dropped_total", ClientLabels(s), s.Dropped);
        Help(t, "m2s_client_frames_skipped_total", "counter", "Frames a connected client missed while nothing was being written to it: the daemon's sending side was busy, not the client.");
        foreach (var s in subscribers) Line(t, "m2s_client_frames_skipped_total", ClientLabels(s), s.Skipped);

        Help(t, "m2s_unfinished_message_bytes", "gauge", "Bytes of request messages that have begun to arrive and are not complete, all calls together.");
        Line(t, "m2s_unfinished_message_bytes", "", unfinished.Held);
        Help(t, "m2s_calls_refused_for_unfinished_messages_total", "counter", "Calls ended for holding too many bytes of unfinished messages or for a message arriving too slowly.");
        Line(t, "m2s_calls_refused_for_unfinished_messages_total", "", unfinished.Refused);

        Help(t, "m2s_ready", "gauge", "1 when the model is loaded, self-tested and warm.");
        Line(t, "m2s_ready", "", state.Readiness == Readiness.Ready ? 1 : 0);
        if (active.Stages is { } stages)
        {
            var m = stages.Model.Manifest;
            Help(t, "m2s_model_info", "gauge", "The model being served and the execution provider running it.");
            Line(t, "m2s_model_info", $"model_id=\"{Escape(m.ModelId)}\",version=\"{Escape(m.Version)}\",architecture=\"{Escape(m.Architecture)}\",provider=\"{stages.Model.ExecutionProvider.Name}\",onnxruntime=\"{Escape(M2SNet.Edge.Inference.OrtEnvironment.Instance.Version)}\",flavour=\"{M2SNet.Edge.Inference.OrtEnvironment.Flavor}\"", 1);
        }
        return t.ToString();
    }

    private static string ClientLabels(Subscriber s) => $"client=\"{Escape(s.Name)}\",id=\"{s.Id}\"";

    private static void Help(StringBuilder t, string name, string type, string help) =>
        t.Append("# HELP ").Append(name).Append(' ').Append(help).Append("\n# TYPE ").Append(name).Append(' ').Append(type).Append('\n');

    private static void Line(StringBuilder t, string name, string labels, double value)
    {
        t.Append(name);
        if (labels.Length > 0) t.Append('{').Append(labels).Append('}');
        t.Append(' ').Append(value.ToString("R", CultureInfo.InvariantCulture)).Append('\n');
    }

    private static string Escape(string v) => v.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
}
