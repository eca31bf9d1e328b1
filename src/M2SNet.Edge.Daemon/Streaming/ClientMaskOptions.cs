using M2SNet.Edge.Daemon.Configuration;
using Grpc.Core;
using M2SNet.Edge.Protocol.V1;

namespace M2SNet.Edge.Daemon.Streaming;

/// <summary>A client's mask request, checked once when the call starts (or when a Segment request changes it).</summary>
/// <param name="Width">Mask width; 0 with <paramref name="Height"/> 0 means the frame's size.</param>
public sealed record ClientMaskOptions(MaskEncoding Encoding, int Width, int Height, bool IncludeFrameJpeg, int JpegQuality)
{
    public static IReadOnlyList<MaskEncoding> Supported { get; } =
        [MaskEncoding.Bitpacked, MaskEncoding.Rle, MaskEncoding.Png, MaskEncoding.ProbabilityU8, MaskEncoding.None];

    /// <summary>Validates a request's options against the daemon's limits; INVALID_ARGUMENT with the reason otherwise.</summary>
    public static ClientMaskOptions Resolve(MaskOptions? requested, StreamOptions stream, LimitOptions limits)
    {
        requested ??= new MaskOptions();
        var encoding = requested.Encoding == MaskEncoding.Unspecified ? stream.DefaultEncoding : requested.Encoding;
        if (!Supported.Contains(encoding))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument,
                $"unknown mask encoding {(int)requested.Encoding}; this daemon sends {string.Join(", ", Supported.Select(e => $"{e} ({(int)e})"))}"));
        }
        if ((requested.Width == 0) != (requested.Height == 0))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"mask size {requested.Width}x{requested.Height}: give both width and height, or neither for the frame's size"));
        }
        if (requested.Width > limits.MaxMaskWidth || requested.Height > limits.MaxMaskHeight)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument,
                $"mask size {requested.Width}x{requested.Height} is larger than the limit {limits.MaxMaskWidth}x{limits.MaxMaskHeight}"));
        }
        if (requested.JpegQuality > 100)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"JPEG quality {requested.JpegQuality} is not within 1..100 (0 for the default)"));
        }
        return new ClientMaskOptions(encoding, (int)requested.Width, (int)requested.Height, requested.IncludeFrameJpeg,
            requested.JpegQuality == 0 ? stream.JpegQuality : (int)requested.JpegQuality);
    }
}
