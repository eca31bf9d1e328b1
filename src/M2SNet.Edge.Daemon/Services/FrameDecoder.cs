using System.Buffers.Binary;
using M2SNet.Edge.Daemon.Configuration;
using Grpc.Core;
using M2SNet.Edge.OpenCv;
using M2SNet.Edge.Protocol.V1;
using ProtoFrame = M2SNet.Edge.Protocol.V1.Frame;

namespace M2SNet.Edge.Daemon.Services;

/// <summary>
/// Checks and decodes a frame a client sent. Sizes are checked before any pixel is touched
/// (for JPEG and PNG, from the image's own header, so a small file declaring a huge image is
/// refused before it is decoded); every failure is INVALID_ARGUMENT with the reason.
/// </summary>
public static class FrameDecoder
{
    public static void Decode(ProtoFrame? frame, LimitOptions limits, Mat destination)
    {
        if (frame is null) throw Invalid("the request has no frame");
        switch (frame.Format)
        {
            case PixelFormat.Bgr24:
            case PixelFormat.Rgb24:
                DecodeRaw(frame, limits, destination);
                break;
            case PixelFormat.Jpeg:
            case PixelFormat.Png:
                DecodeImage(frame, limits, destination);
                break;
            default:
                throw Invalid($"unknown pixel format {(int)frame.Format}; send BGR24 (1), RGB24 (2), JPEG (3) or PNG (4)");
        }
    }

    private static void DecodeRaw(ProtoFrame frame, LimitOptions limits, Mat destination)
    {
        int w = (int)Math.Min(frame.Width, int.MaxValue), h = (int)Math.Min(frame.Height, int.MaxValue);
        if (w == 0 || h == 0) throw Invalid($"a raw {frame.Format} frame needs its width and height (got {frame.Width}x{frame.Height})");
        CheckSize(w, h, limits);
        var rowBytes = (long)w * 3;
        var stride = frame.Stride == 0 ? rowBytes : frame.Stride;
        if (stride < rowBytes) throw Invalid($"stride {stride} is shorter than a row of {w} pixels ({rowBytes} bytes)");
        var expected = stride * (h - 1) + rowBytes;
        if (frame.Data.Length < expected || frame.Data.Length > stride * h)
        {
            throw Invalid($"a {w}x{h} {frame.Format} frame with stride {stride} is {stride * h} bytes, but {frame.Data.Length} bytes were sent");
        }
        destination.Create(h, w, MatType.CV_8UC3);
        var pixels = destination.AsSpan<byte>();
        var data = frame.Data.Span;
        for (var y = 0; y < h; y++) data.Slice((int)(y * stride), (int)rowBytes).CopyTo(pixels.Slice((int)(y * rowBytes), (int)rowBytes));
        if (frame.Format == PixelFormat.Rgb24) Cv2.CvtColor(destination, destination, ColorConversionCodes.RGB2BGR);
    }

    private static void DecodeImage(ProtoFrame frame, LimitOptions limits, Mat destination)
    {
        var data = frame.Data.Span;
        if (data.Length == 0) throw Invalid($"the {frame.Format} frame is empty");
        if (!TryReadHeaderSize(data, frame.Format, out var w, out var h))
        {
            throw Invalid($"the data is not a {frame.Format} image (no valid {frame.Format} header)");
        }
        CheckSize(w, h, limits);
        if ((frame.Width != 0 && frame.Width != w) || (frame.Height != 0 && frame.Height != h))
        {
            throw Invalid($"the frame declares {frame.Width}x{frame.Height} but the {frame.Format} image is {w}x{h}");
        }
        try
        {
            // JPEG through libjpeg, strictly: a truncated or corrupt stream must not reach the model as grey.
            if (frame.Format == PixelFormat.Jpeg) Cv2.ImDecodeJpegStrict(data, destination);
            else Cv2.ImDecode(data, ImreadModes.Color, destination);
        }
        catch (OpenCvException e)
        {
            throw Invalid($"the {frame.Format} image is damaged or incomplete and is not segmented: {e.Message}");
        }
    }

    private static void CheckSize(int w, int h, LimitOptions limits)
    {
        if (w > limits.MaxFrameWidth || h > limits.MaxFrameHeight)
        {
            throw Invalid($"a {w}x{h} frame is larger than the limit {limits.MaxFrameWidth}x{limits.MaxFrameHeight} (Daemon:Limits:MaxFrameWidth/Height)");
        }
    }

    /// <summary>Width and height from a PNG's IHDR or a JPEG's start-of-frame marker.</summary>
    internal static bool TryReadHeaderSize(ReadOnlySpan<byte> data, PixelFormat format, out int width, out int height)
    {
        width = height = 0;
        if (format == PixelFormat.Png)
        {
            ReadOnlySpan<byte> signature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];
            if (data.Length < 24 || !data[..8].SequenceEqual(signature) || !data.Slice(12, 4).SequenceEqual("IHDR"u8)) return false;
            width = (int)Math.Min(BinaryPrimitives.ReadUInt32BigEndian(data[16..]), int.MaxValue);
            height = (int)Math.Min(BinaryPrimitives.ReadUInt32BigEndian(data[20..]), int.MaxValue);
            return width > 0 && height > 0;
        }
        if (data.Length < 4 || data[0] != 0xFF || data[1] != 0xD8) return false;
        var i = 2;
        while (i + 4 <= data.Length)
        {
            if (data[i] != 0xFF) return false;
            var marker = data[i + 1];
            if (marker == 0xFF) { i++; continue; }
            if (marker is 0xD8 or 0x01 or (>= 0xD0 and <= 0xD7)) { i += 2; continue; }
            var length = BinaryPrimitives.ReadUInt16BigEndian(data[(i + 2)..]);
            // Start-of-frame markers (baseline, progressive, …), not DHT (C4), JPG (C8) or DAC (CC).
            if (marker is >= 0xC0 and <= 0xCF and not 0xC4 and not 0xC8 and not 0xCC)
            {
                if (i + 9 > data.Length) return false;
                height = BinaryPrimitives.ReadUInt16BigEndian(data[(i + 5)..]);
                width = BinaryPrimitives.ReadUInt16BigEndian(data[(i + 7)..]);
                return width > 0 && height > 0;
            }
            if (marker == 0xDA || length < 2) return false;
            i += 2 + length;
        }
        return false;
    }

    private static RpcException Invalid(string reason) => new(new Status(StatusCode.InvalidArgument, reason));
}
