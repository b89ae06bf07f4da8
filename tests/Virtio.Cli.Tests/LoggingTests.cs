using System.Diagnostics;
using System.Text.Json;

namespace Virtio.Cli.Tests;

/// <summary>
/// <c>--log-level</c> and <c>--verbose</c>: the libraries' [LoggerMessage] events reach stderr through the console
/// logger and never stdout. These run the command as its own process, because the console logger writes to the
/// process's stderr, not to the writers an in-process run captures.
/// </summary>
public sealed class LoggingTests
{
    // virtio_set_status (Virtio.Core, debug): every scenario's driver walks the status through ACKNOWLEDGE.
    private const string SetStatusEvent = "set status None -> Acknowledge";

    [Fact]
    public void Log_level_debug_writes_library_events_to_stderr_and_keeps_stdout_json()
    {
        (int exit, string stdout, string stderr) = RunProcess("repro", "healthy", "--json", "--log-level", "debug");

        Assert.Equal(0, exit);
        Assert.Contains(SetStatusEvent, stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("dbug:", stdout, StringComparison.Ordinal);
        string[] lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        using JsonDocument doc = JsonDocument.Parse(lines[0]);
        Assert.Equal("healthy", doc.RootElement.GetProperty("verdict").GetString());
    }

    [Fact]
    public void Verbose_is_debug_level_given_before_the_command()
    {
        (int exit, _, string stderr) = RunProcess("--verbose", "repro", "healthy");

        Assert.Equal(0, exit);
        Assert.Contains(SetStatusEvent, stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Default_level_adds_nothing_to_stderr()
    {
        // Every scenario, including those whose device logs virtio_error on purpose.
        (int exit, string stdout, string stderr) = RunProcess("repro");

        Assert.Equal(0, exit);
        Assert.NotEmpty(stdout);
        Assert.Equal(string.Empty, stderr);
    }

    [Fact]
    public void Bench_logs_the_devices_events_at_debug_level()
    {
        (int exit, _, string stderr) = RunProcess("bench", "blk", "--requests", "100", "--log-level", "debug");

        Assert.Equal(0, exit);
        Assert.Contains(SetStatusEvent, stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Bench_adds_nothing_to_stderr_by_default()
    {
        (int exit, string stdout, string stderr) = RunProcess("bench", "blk", "--requests", "100");

        Assert.Equal(0, exit);
        Assert.Contains("virtio-blk randread", stdout, StringComparison.Ordinal);
        Assert.Equal(string.Empty, stderr);
    }

    private static (int Exit, string Out, string Err) RunProcess(params string[] args)
    {
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";
        var start = new ProcessStartInfo(dotnet) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(typeof(Program).Assembly.Location);
        foreach (string a in args)
        {
            start.ArgumentList.Add(a);
        }

        using Process process = Process.Start(start)!;
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(60)), "virtio did not exit within 60 s");
        return (process.ExitCode, stdout, stderr.Result);
    }
}
