using System.Text.Json;

namespace Virtio.Cli.Tests.Stress;

/// <summary><c>virtio stress</c>: exit 0 and "nothing lost" on a clean run, the figures in text and JSON.</summary>
[Collection("Threads")]
public class StressCommandTests
{
    [Fact]
    public void A_clean_run_exits_0_and_prints_the_figures()
    {
        (int exit, string output, _) = VirtioCommand.Run("stress", "--buffers", "30000", "--seed", "7");
        Assert.Equal(0, exit);
        Assert.StartsWith("stress: seed 7, 30,000 buffers over ", output, StringComparison.Ordinal);
        foreach (string line in new[] { "returned", "taken back", "resets", "restarts", "wraps crossed", "kicks", "calls", "rate", "elapsed" })
        {
            Assert.Contains($"  {line} ", output, StringComparison.Ordinal);
        }

        Assert.EndsWith("result: nothing lost\n", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Json_prints_one_object_with_the_figures()
    {
        (int exit, string output, _) = VirtioCommand.Run("stress", "--buffers", "30000", "--json");
        Assert.Equal(0, exit);
        using JsonDocument json = JsonDocument.Parse(output);
        JsonElement root = json.RootElement;
        Assert.Equal(1UL, root.GetProperty("seed").GetUInt64());
        Assert.Equal(30_000, root.GetProperty("buffers").GetInt64());
        Assert.Equal(30_000, root.GetProperty("returned").GetInt64() + root.GetProperty("takenBackAtReset").GetInt64());
        Assert.True(root.GetProperty("passed").GetBoolean());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("failure").ValueKind);
        foreach (string field in new[] { "seeds", "resets", "restarts", "wrapsCrossed", "kicks", "calls", "buffersPerSecond", "elapsedSeconds" })
        {
            Assert.True(root.TryGetProperty(field, out _), field);
        }
    }
}
