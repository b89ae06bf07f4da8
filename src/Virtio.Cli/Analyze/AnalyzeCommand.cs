using System.CommandLine;
using System.Globalization;
using Virtio.Diagnostics;

namespace Virtio.Cli.Analyze;

/// <summary>
/// <c>virtio analyze</c>: the offline hang analysis of <see cref="DumpAnalysis"/> on a RAM dump and saved QMP replies.
/// Exit code 0: healthy; 2: a hang was found; 1: bad input (the reason on stderr).
/// </summary>
public static class AnalyzeCommand
{
    /// <summary>Exit code when the queue is healthy.</summary>
    public const int ExitHealthy = 0;

    /// <summary>Exit code for bad input.</summary>
    public const int ExitBadInput = 1;

    /// <summary>Exit code when a hang (any verdict but healthy) was found.</summary>
    public const int ExitHang = 2;

    /// <summary>Builds the command, writing to <paramref name="output"/> and <paramref name="error"/> (default: the console).</summary>
    public static Command Build(TextWriter? output = null, TextWriter? error = null)
    {
        var ram = new Option<FileInfo>("--ram") { Description = "raw guest RAM dump (QEMU pmemsave)", Required = true };
        var ramBase = new Option<string>("--ram-base") { Description = "guest-physical address of the dump's first byte (decimal or 0x hex)", DefaultValueFactory = _ => "0" };
        var queueStatus = new Option<FileInfo>("--queue-status") { Description = "x-query-virtio-queue-status reply (with or without \"return\")", Required = true };
        var virtioStatus = new Option<FileInfo>("--virtio-status") { Description = "x-query-virtio-status reply: EVENT_IDX is read from the guest features" };
        var eventIdx = new Option<bool?>("--event-idx") { Description = "whether VIRTIO_RING_F_EVENT_IDX was negotiated (true|false), instead of --virtio-status" };
        var format = new Option<string>("--format") { Description = "text or json", DefaultValueFactory = _ => "text" };
        format.AcceptOnlyFromAmong("text", "json");

        var command = new Command("analyze", "Why is a virtqueue stuck? Analyse a RAM dump with the queue's QMP status")
        {
            ram, ramBase, queueStatus, virtioStatus, eventIdx, format,
        };
        command.SetAction(parse =>
        {
            TextWriter stdout = output ?? Console.Out;
            TextWriter stderr = error ?? Console.Error;
            try
            {
                FileInfo? virtioStatusFile = parse.GetValue(virtioStatus);
                bool? eventIdxValue = parse.GetValue(eventIdx);
                if (virtioStatusFile is not null && eventIdxValue is not null)
                {
                    throw new DiagnosticInputException(DiagnosticInputErrorKind.InvalidOption, "give --virtio-status or --event-idx, not both");
                }

                HangReport report = DumpAnalysis.AnalyzeFiles(
                    parse.GetValue(ram)!.FullName,
                    ParseAddress(parse.GetValue(ramBase)!),
                    parse.GetValue(queueStatus)!.FullName,
                    virtioStatusFile?.FullName,
                    eventIdxValue);
                stdout.Write(parse.GetValue(format) == "json" ? report.ToJson(indented: true) + "\n" : report.ToText());
                stdout.Flush();
                return report.IsHang ? ExitHang : ExitHealthy;
            }
            catch (DiagnosticInputException e)
            {
                stderr.WriteLine($"virtio analyze: {e.Message}");
                return ExitBadInput;
            }
        });
        return command;
    }

    /// <summary>Parses an address given as decimal or as 0x-prefixed hex.</summary>
    /// <exception cref="DiagnosticInputException">It is neither.</exception>
    public static ulong ParseAddress(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string t = text.Trim();
        bool ok = t.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? ulong.TryParse(t.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong value)
            : ulong.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out value);
        return ok ? value : throw new DiagnosticInputException(DiagnosticInputErrorKind.InvalidOption, $"--ram-base {text}: not an address (decimal or 0x hex)");
    }
}
