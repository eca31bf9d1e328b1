using System.Buffers.Binary;
using System.Net.Http.Headers;
using Google.Protobuf;
using Grpc.Health.V1;
using M2SNet.Edge.Protocol.V1;

namespace M2SNet.Edge.Bench.Fuzz;

/// <summary>
/// Malformed gRPC messages and framing, sent as raw HTTP/2 requests (HttpClient, so the framing
/// can be wrong): random and mutated protobuf bytes for every method, length prefixes longer or
/// shorter than the body, the compressed flag with garbage, unknown grpc-encodings, wrong
/// content types, unknown services and methods, several messages to a unary method, bad headers.
/// <para>
/// The rule: a gRPC status comes back (in trailers or a trailers-only answer) within the bound,
/// and it is not UNKNOWN, INTERNAL or DATA_LOSS (those say the daemon failed, not the input);
/// OK is fine (random bytes often parse: protobuf skips unknown fields). A wrong content type may
/// instead get HTTP 415, as the gRPC protocol asks, and a path that is not /service/method HTTP 404. A valid streaming call that is still streaming
/// when its bound passes is ended by the fuzzer and counted as such.
/// </para>
/// </summary>
internal sealed class MessageFuzzer(string address) : IFuzzTarget, IDisposable
{
    private sealed record Method(string Path, bool ServerStreams, Func<IMessage> Valid);

    private static readonly Method[] s_methods =
    [
        new($"/{Segmentation.Descriptor.FullName}/GetInfo", false, () => new GetInfoRequest()),
        new($"/{Segmentation.Descriptor.FullName}/StreamMasks", true,
            () => new StreamMasksRequest { ClientName = "fuzz", Options = new MaskOptions { Encoding = MaskEncoding.Rle, Width = 16, Height = 9 } }),
        new($"/{Segmentation.Descriptor.FullName}/Segment", true, () => new SegmentRequest
        {
            Frame = new M2SNet.Edge.Protocol.V1.Frame { Format = PixelFormat.Bgr24, Width = 4, Height = 2, Data = ByteString.CopyFrom(new byte[24]) },
        }),
        new($"/{ModelAdmin.Descriptor.FullName}/UploadModel", false,
            () => new UploadModelRequest { UploadId = "fuzz-message", TotalBytes = 100, StageOnly = true, Data = ByteString.CopyFrom(new byte[10]) }),
        new($"/{ModelAdmin.Descriptor.FullName}/GetUploadStatus", false, () => new GetUploadStatusRequest { UploadId = "fuzz-message" }),
        new($"/{ModelAdmin.Descriptor.FullName}/ListModels", false, () => new ListModelsRequest()),
        new($"/{ModelAdmin.Descriptor.FullName}/ActivateModel", false, () => new ActivateModelRequest { Key = "no-such-model" }),
        new($"/{ModelAdmin.Descriptor.FullName}/Rollback", false, () => new RollbackRequest()),
        new($"/{Health.Descriptor.FullName}/Check", false, () => new HealthCheckRequest()),
        new($"/{Health.Descriptor.FullName}/Watch", true, () => new HealthCheckRequest()),
        new("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", true, () => new HealthCheckRequest { Service = "x" }),
    ];

    private static readonly string[] s_encodings = ["br", "snappy", "deflate, gzip", "zstd", "identity", "GZIP", "x-unknown"];

    private static readonly string[] s_contentTypes = ["text/plain", "application/json", "application/grpc-web", "application/grpc-web-text", "application/x-protobuf", "multipart/form-data"];

    private static readonly string[] s_timeouts = ["abc", "-1S", "99999999999H", "1X", "", "0n", "1.5S", "100000000S"];

    private readonly HttpClient _http = new(new SocketsHttpHandler { EnableMultipleHttp2Connections = true });

    public string Category => "messages";

    public async Task<FuzzAnswer> RunAsync(Random r, CancellationToken cancel)
    {
        var method = s_methods[r.Next(s_methods.Length)];
        var (path, body, headers, what) = Generate(r, method);
        using var request = new HttpRequestMessage(HttpMethod.Post, address + path)
        {
            Content = new ByteArrayContent(body),
            Version = System.Net.HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        request.Headers.TryAddWithoutValidation("te", "trailers");
        var contentType = "application/grpc";
        var timeout = "500m";
        foreach (var (name, value) in headers)
        {
            if (name == "content-type") contentType = value;
            else if (name == "grpc-timeout") timeout = value;
            else request.Headers.TryAddWithoutValidation(name, value);
        }
        request.Content.Headers.TryAddWithoutValidation("content-type", contentType);
        request.Headers.TryAddWithoutValidation("grpc-timeout", timeout);
        what = $"{path} {what}";

        // A streaming call that is valid may stream for as long as it is let: it is given 2 s.
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        bound.CancelAfter(method.ServerStreams ? TimeSpan.FromSeconds(2) : TimeSpan.FromSeconds(15));
        var headersCame = false;
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, bound.Token).ConfigureAwait(false);
            headersCame = true;
            await response.Content.CopyToAsync(Stream.Null, bound.Token).ConfigureAwait(false);
            var status = response.TrailingHeaders.TryGetValues("grpc-status", out var t) ? t.First()
                : response.Headers.TryGetValues("grpc-status", out var h) ? h.First() : null;
            var message = response.TrailingHeaders.TryGetValues("grpc-message", out var tm) ? tm.First()
                : response.Headers.TryGetValues("grpc-message", out var hm) ? hm.First() : "";
            message = Uri.UnescapeDataString(message);
            if ((int)response.StatusCode != 200 || status is null)
            {
                var wrongType = !contentType.StartsWith("application/grpc", StringComparison.Ordinal) || contentType.StartsWith("application/grpc-web", StringComparison.Ordinal);
                // A path that is not /service/method matches no gRPC route; gRPC clients read HTTP 404 as UNIMPLEMENTED.
                var notAMethod = path.Count(c => c == '/') != 2;
                var http = $"HTTP {(int)response.StatusCode}";
                var fine = (wrongType && (int)response.StatusCode == 415) || (notAMethod && (int)response.StatusCode == 404);
                return new FuzzAnswer(what, http, fine, $"{http}, grpc-status {status ?? "absent"} {message}");
            }
            var answer = StatusNames.Of(status);
            return new FuzzAnswer(what, answer, answer is not ("UNKNOWN" or "INTERNAL" or "DATA_LOSS") && !answer.StartsWith("grpc-status", StringComparison.Ordinal), message);
        }
        catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
        {
            return method.ServerStreams && headersCame
                ? new FuzzAnswer(what, "streaming (ended by the fuzzer)", true, "a valid streaming call, still streaming after 2 s")
                : new FuzzAnswer(what, "no answer", false, $"no status within {(method.ServerStreams ? 2 : 15)} s");
        }
        catch (HttpRequestException e)
        {
            var code = e.InnerException is HttpProtocolException p ? $"stream reset {(Http2Error)p.ErrorCode}" : "connection error";
            return new FuzzAnswer(what, code, false, e.InnerException?.Message ?? e.Message);
        }
    }

    private static (string Path, byte[] Body, List<(string, string)> Headers, string What) Generate(Random r, Method method)
    {
        var valid = method.Valid().ToByteArray();
        var headers = new List<(string, string)>();
        switch (r.Next(15))
        {
            case 0:
            {
                var bytes = ByteMutations.RandomBytes(r, r.Next(0, 512));
                return (method.Path, Frame(bytes), headers, $"{bytes.Length} random bytes");
            }
            case 1:
            {
                var (bytes, what) = ByteMutations.Any(valid, r);
                return (method.Path, Frame(bytes), headers, "message " + what);
            }
            case 2:
            {
                var extra = 1 + r.Next(1000);
                return (method.Path, Frame(valid, length: (uint)(valid.Length + extra)), headers, $"length prefix {extra} bytes longer than the body");
            }
            case 3:
            {
                var less = 1 + r.Next(Math.Max(1, valid.Length));
                return (method.Path, Frame(valid, length: (uint)Math.Max(0, valid.Length - less)), headers, $"length prefix {less} bytes shorter than the body");
            }
            case 4: return (method.Path, Frame(valid, flag: 1), headers, "compressed flag without grpc-encoding");
            case 5:
            {
                headers.Add(("grpc-encoding", "gzip"));
                var garbage = r.Next(2) == 0 ? ByteMutations.RandomBytes(r, r.Next(0, 256)) : ByteMutations.Any(Gzip(valid), r).Bytes;
                return (method.Path, Frame(garbage, flag: 1), headers, $"gzip flag with {garbage.Length} damaged bytes");
            }
            case 6:
            {
                var encoding = r.Next(3) == 0 ? ByteMutations.RandomName(r, 20).Normalize() : s_encodings[r.Next(s_encodings.Length)];
                headers.Add(("grpc-encoding", new string([.. encoding.Where(c => c is > ' ' and < (char)127)])));
                return (method.Path, Frame(valid, flag: (byte)r.Next(0, 2)), headers, $"grpc-encoding '{headers[0].Item2}'");
            }
            case 7:
            {
                var type = s_contentTypes[r.Next(s_contentTypes.Length)];
                headers.Add(("content-type", type));
                return (method.Path, Frame(valid), headers, $"content-type {type}");
            }
            case 8:
            {
                var name = Uri.EscapeDataString(ByteMutations.RandomName(r, r.Next(2) == 0 ? 20 : 300));
                var path = r.Next(3) switch
                {
                    0 => $"/{name}/Check",
                    1 => $"/{Segmentation.Descriptor.FullName}/{name}",
                    _ => $"/{name}",
                };
                return (path, Frame(valid), headers, "unknown service or method");
            }
            case 9:
            {
                var n = 2 + r.Next(5);
                return (method.Path, [.. Enumerable.Range(0, n).SelectMany(_ => Frame(valid))], headers, $"{n} messages");
            }
            case 10: return (method.Path, [], headers, "no message");
            case 11:
            {
                var n = 1 + r.Next(4);
                return (method.Path, Frame(valid)[..n], headers, $"only {n} bytes of the message prefix");
            }
            case 12:
            {
                var length = r.Next(2) == 0 ? uint.MaxValue - (uint)r.Next(1000) : (uint)r.Next(40 << 20, int.MaxValue);
                return (method.Path, Frame(valid, length: length), headers, $"length prefix {length}");
            }
            case 13:
            {
                headers.Add(("grpc-timeout", s_timeouts[r.Next(s_timeouts.Length)]));
                if (r.Next(2) == 0) headers.Add(("grpc-accept-encoding", ByteMutations.RandomName(r, 30).Normalize() is var s ? new string([.. s.Where(c => c is > ' ' and < (char)127)]) : ""));
                return (method.Path, Frame(valid), headers, $"headers {string.Join(", ", headers.Select(h => $"{h.Item1}: '{h.Item2}'"))}");
            }
            default:
            {
                var flag = (byte)r.Next(2, 256);
                return (method.Path, Frame(valid, flag: flag), headers, $"compressed flag {flag}");
            }
        }
    }

    /// <summary>The gRPC message prefix (flag, big-endian length) and the bytes; the length may lie.</summary>
    private static byte[] Frame(byte[] payload, byte flag = 0, uint? length = null)
    {
        var framed = new byte[5 + payload.Length];
        framed[0] = flag;
        BinaryPrimitives.WriteUInt32BigEndian(framed.AsSpan(1), length ?? (uint)payload.Length);
        payload.CopyTo(framed, 5);
        return framed;
    }

    private static byte[] Gzip(byte[] bytes)
    {
        using var buffer = new MemoryStream();
        using (var gzip = new System.IO.Compression.GZipStream(buffer, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true)) gzip.Write(bytes);
        return buffer.ToArray();
    }

    public void Dispose() => _http.Dispose();
}
