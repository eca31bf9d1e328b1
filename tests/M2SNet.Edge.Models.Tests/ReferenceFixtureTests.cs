using System.Security.Cryptography;
using M2SNet.Edge.TestSupport;

namespace M2SNet.Edge.Models.Tests;

/// <summary>The repository's copy of the reference fixtures is byte-exact with what the generator wrote.</summary>
public sealed class ReferenceFixtureTests
{
    [Fact]
    public void Every_fixture_has_the_size_and_hash_the_generator_recorded()
    {
        var files = Reference.Json("make_info.json").GetProperty("files");
        var checkedFiles = 0;
        foreach (var entry in files.EnumerateObject())
        {
            // The README is ours (it says where the files come from), not the generator's.
            if (entry.Name == "README.md") continue;
            var bytes = File.ReadAllBytes(Reference.Fixture(entry.Name));
            Assert.Equal(entry.Value.GetProperty("bytes").GetInt64(), bytes.LongLength);
            Assert.Equal(entry.Value.GetProperty("sha256").GetString(), Convert.ToHexStringLower(SHA256.HashData(bytes)));
            checkedFiles++;
        }
        Assert.Equal(19, checkedFiles);
    }

    [Fact]
    public void Fixtures_are_found_inside_the_repository()
    {
        if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable("M2S_REFERENCE_DIR"))) return;
        var inside = Path.Combine(Reference.RepositoryRoot(), "tests", "fixtures", "reference");
        Assert.Equal(Path.GetFullPath(inside), Path.GetFullPath(Reference.Directory));
    }
}
