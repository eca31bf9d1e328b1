using System.Diagnostics;
using System.Text.Json;
using M2SNet.Edge.TestSupport;

namespace M2SNet.Edge.Daemon.Tests;

/// <summary>The OR web view in a real browser: headless chromium driven by playwright-core.</summary>
public sealed class WebViewTests(ITestOutputHelper output)
{
    /// <summary>Where the screenshot is kept as a test artefact ($M2S_TEST_ARTIFACTS, else TestResults beside the tests).</summary>
    private static string Artifacts => Environment.GetEnvironmentVariable("M2S_TEST_ARTIFACTS") is { Length: > 0 } dir
        ? dir
        : Path.Combine(Reference.RepositoryRoot(), "tests", "M2SNet.Edge.Daemon.Tests", "TestResults");

    [Fact]
    public async Task Browser_shows_frames_advancing_with_the_lesion_mask()
    {
        await using var daemon = await TestDaemon.StartAsync();
        var screenshot = Screenshot("or-web-view.png");

        var result = await RunAsync(daemon.HttpAddress.TrimEnd('/') + "/view/", screenshot);
        output.WriteLine(result.ToString());
        var first = result.GetProperty("first");
        var second = result.GetProperty("second");
        Assert.True(second.GetProperty("lastSeq").GetDouble() > first.GetProperty("lastSeq").GetDouble(), "frames did not advance");
        Assert.True(second.GetProperty("frames").GetDouble() >= first.GetProperty("frames").GetDouble() + 10, "fewer than 10 more frames drawn");
        Assert.True(first.GetProperty("maskPixels").GetDouble() > 0, "no mask on screen");
        Assert.StartsWith("live", result.GetProperty("status").GetString());
        Assert.Equal(0, result.GetProperty("errors").GetArrayLength());
        Assert.True(new FileInfo(screenshot).Length > 10_000, "no screenshot");
        output.WriteLine($"screenshot: {screenshot}");
    }

    /// <summary>
    /// Opens <paramref name="url"/> in headless chromium (tests/webview/check-view.js) and returns
    /// what the page measured; <paramref name="environment"/> adds M2S_VIEW_TOKEN, M2S_CHROMIUM and the like.
    /// </summary>
    public static async Task<JsonElement> RunAsync(string url, string screenshot, IReadOnlyDictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.Environment["NODE_PATH"] = Path.Combine(Reference.RepositoryRoot(), ".native", "playwright", "node_modules");
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) psi.Environment[name] = value;
        psi.ArgumentList.Add(Path.Combine(Reference.RepositoryRoot(), "tests", "webview", "check-view.js"));
        psi.ArgumentList.Add(url);
        psi.ArgumentList.Add(screenshot);
        using var node = Process.Start(psi)!;
        var stdout = node.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = node.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(120));
        await node.WaitForExitAsync(timeout.Token);
        Assert.True(node.ExitCode == 0, $"the browser check failed: {await stderr}");
        return JsonDocument.Parse(await stdout).RootElement;
    }

    /// <summary>Where a test keeps its screenshot.</summary>
    public static string Screenshot(string name)
    {
        Directory.CreateDirectory(Artifacts);
        var path = Path.Combine(Artifacts, name);
        File.Delete(path);
        return path;
    }

    [Fact]
    public async Task Root_of_the_http_endpoint_leads_to_the_page()
    {
        await using var daemon = await TestDaemon.StartAsync(waitUntilServing: false);
        using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = true }) { BaseAddress = new Uri(daemon.HttpAddress) };
        var page = await http.GetStringAsync("/", TestContext.Current.CancellationToken);
        Assert.Contains("<canvas id=\"video\"", page);
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await http.GetAsync("/view/secrets.json", TestContext.Current.CancellationToken)).StatusCode);
    }
}
