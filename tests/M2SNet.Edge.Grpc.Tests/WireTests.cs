using System.Buffers;

namespace M2SNet.Edge.Grpc.Tests;

public sealed class WireTests
{
    [Theory]
    [InlineData("1H", 36_000_000_000L)]
    [InlineData("2M", 1_200_000_000L)]
    [InlineData("3S", 30_000_000L)]
    [InlineData("250m", 2_500_000L)]
    [InlineData("1500u", 15_000L)]
    [InlineData("99999999n", 999_999L)]
    public void Timeouts_in_every_unit_parse(string text, long ticks)
    {
        Assert.True(Wire.TryParseTimeout(text, out var timeout));
        Assert.Equal(ticks, timeout.Ticks);
    }

    [Theory]
    [InlineData("")]
    [InlineData("5")]
    [InlineData("S")]
    [InlineData("123456789S")]
    [InlineData("-5S")]
    [InlineData("5s")]
    [InlineData("1.5S")]
    public void Malformed_timeouts_are_refused(string text) => Assert.False(Wire.TryParseTimeout(text, out _));

    [Theory]
    [InlineData(0.4, "1m")]
    [InlineData(250, "250m")]
    [InlineData(1e9, "1000000S")]
    public void Timeouts_format_to_at_most_eight_digits_rounding_up(double milliseconds, string expected)
    {
        var text = Wire.FormatTimeout(TimeSpan.FromMilliseconds(milliseconds));
        Assert.Equal(expected, text);
        Assert.True(Wire.TryParseTimeout(text, out var back));
        Assert.True(back >= TimeSpan.FromMilliseconds(milliseconds));
    }

    [Theory]
    [InlineData("plain ASCII, with: punctuation!", "plain ASCII, with: punctuation!")]
    [InlineData("100%", "100%25")]
    [InlineData("Läsion", "L%C3%A4sion")]
    [InlineData("line\nbreak", "line%0Abreak")]
    public void Status_messages_are_percent_encoded_as_the_specification_says(string text, string encoded)
    {
        Assert.Equal(encoded, Wire.EncodeMessage(text));
        Assert.Equal(text, Wire.DecodeMessage(encoded));
    }

    [Fact]
    public void Decoding_keeps_text_that_is_not_a_valid_escape() =>
        Assert.Equal("50%zz and %4", Wire.DecodeMessage("50%zz and %4"));

    [Fact]
    public void A_message_round_trips_through_its_five_byte_prefix()
    {
        var message = new M2SNet.Edge.Protocol.V1.MaskMessage { Sequence = 300, ClientSequence = 9 };
        var framed = Wire.Frame(message);
        Assert.Equal(5 + message.CalculateSize(), framed.Length);
        Assert.True(Wire.TryReadPrefix(new ReadOnlySequence<byte>(framed), out var compressed, out var length));
        Assert.False(compressed);
        Assert.Equal((uint)message.CalculateSize(), length);
        Assert.Equal(message, M2SNet.Edge.Protocol.V1.MaskMessage.Parser.ParseFrom(framed.AsSpan(5)));
        Assert.False(Wire.TryReadPrefix(new ReadOnlySequence<byte>(framed, 0, 4), out _, out _));
    }

    [Theory]
    [InlineData(404, StatusCode.Unimplemented)]
    [InlineData(503, StatusCode.Unavailable)]
    [InlineData(401, StatusCode.Unauthenticated)]
    [InlineData(500, StatusCode.Unknown)]
    public void Http_errors_map_to_the_specified_grpc_codes(int http, StatusCode code) => Assert.Equal(code, Wire.StatusFromHttp(http));
}
