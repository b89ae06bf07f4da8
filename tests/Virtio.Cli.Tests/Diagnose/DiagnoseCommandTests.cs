using System.Text.Json;
using Virtio.Cli.Diagnose;
using Virtio.Diagnostics;
using Virtio.Diagnostics.Tests.Live;
using Virtio.Diagnostics.Tests.Support;

namespace Virtio.Cli.Tests.Diagnose;

public class DiagnoseCommandTests
{
    private static async Task<(int Exit, string Out, string Err)> InvokeAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int exit = await DiagnoseCommand.Build(output, error).Parse(args).InvokeAsync();
        return (exit, output.ToString(), error.ToString());
    }

    [Fact]
    public async Task A_hang_exits_2_with_one_summary_line_per_queue_before_the_walk_through()
    {
        await using FakeQmpServer server = QemuDiagnosticsTests.StuckNet();
        (int exit, string text, _) = await InvokeAsync("--qmp", server.Endpoint, "--path", LiveReference.NetPath, "--interval", "0");
        Assert.Equal(DiagnoseCommand.ExitHang, exit);
        string[] lines = text.Split('\n');
        Assert.StartsWith($"{LiveReference.NetPath} queue 0 (virtio-net rx 0): healthy: idle: 256 buffer(s) posted", lines[2], StringComparison.Ordinal);
        Assert.StartsWith($"{LiveReference.NetPath} queue 1 (virtio-net tx 0): device-stuck", lines[3], StringComparison.Ordinal);
        Assert.StartsWith($"{LiveReference.NetPath} queue 2 (virtio-net ctrl): healthy: nothing outstanding", lines[4], StringComparison.Ordinal);
        Assert.Contains("2. Did the device complete the requests?", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Json_prints_one_object_per_queue()
    {
        await using FakeQmpServer server = QemuDiagnosticsTests.StuckNet();
        (int exit, string text, _) = await InvokeAsync("--qmp", server.Endpoint, "--path", LiveReference.NetPath, "--interval", "0", "--format", "json");
        Assert.Equal(DiagnoseCommand.ExitHang, exit);
        string[] verdicts = text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("verdict").GetString()!).ToArray();
        Assert.Equal(["healthy", "device-stuck", "healthy"], verdicts);
    }

    [Fact]
    public async Task Only_the_queue_asked_for_is_diagnosed_and_a_healthy_one_exits_0()
    {
        await using FakeQmpServer server = QemuDiagnosticsTests.StuckNet();
        (int exit, string text, _) = await InvokeAsync("--qmp", server.Endpoint, "--path", LiveReference.NetPath, "--queue", "0", "--interval", "0");
        Assert.Equal(DiagnoseCommand.ExitHealthy, exit);
        Assert.DoesNotContain("queue 1", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Saved_replies_are_qemus_own_for_virtio_analyze()
    {
        await using FakeQmpServer server = QemuDiagnosticsTests.StuckNet();
        DirectoryInfo dir = Directory.CreateTempSubdirectory("diagnose-save-");
        try
        {
            await InvokeAsync("--qmp", server.Endpoint, "--path", LiveReference.NetPath, "--interval", "0", "--save", dir.FullName);
            QueueStatus saved = QueueStatus.Parse(File.ReadAllText(Path.Combine(dir.FullName, "net0-queue-1-status.json")));
            Assert.Equal(QueueStatus.Parse(LiveReference.Line("net-queue-status-1.json")), saved);
            Assert.True(DumpAnalysis.ParseVirtioStatus(File.ReadAllText(Path.Combine(dir.FullName, "net0-virtio-status.json"))).EventIdx);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Qemu_that_cannot_be_reached_exits_1_with_the_reason()
    {
        string missing = Path.Combine(Path.GetTempPath(), $"no-qmp-{Guid.NewGuid():N}.sock");
        (int exit, _, string err) = await InvokeAsync("--qmp", missing, "--interval", "0");
        Assert.Equal(DiagnoseCommand.ExitError, exit);
        Assert.Contains(missing, err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_qemu_error_exits_1_with_qemus_text()
    {
        await using FakeQmpServer server = QemuDiagnosticsTests.StuckNet();
        server.Script($"x-query-virtio-queue-status {LiveReference.NetPath} 1", LiveReference.Line("queue-status-bad-path.json"));
        (int exit, _, string err) = await InvokeAsync("--qmp", server.Endpoint, "--path", LiveReference.NetPath, "--interval", "0");
        Assert.Equal(DiagnoseCommand.ExitError, exit);
        Assert.Contains("is not a VirtIODevice", err, StringComparison.Ordinal);
    }
}
