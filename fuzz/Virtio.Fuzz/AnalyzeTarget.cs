using System.Text;
using Virtio.Diagnostics;
using Virtio.Memory;

namespace Virtio.Fuzz;

/// <summary>
/// <c>virtio analyze</c>'s inputs: a queue-status reply, a virtio-status reply and a RAM dump, through the same
/// analysis and rendering the command runs. Input: u16 length of the queue-status JSON, u16 length of the
/// virtio-status JSON (0: none), the two texts, then the RAM. The documented refusal is
/// <see cref="DiagnosticInputException"/>; anything else escaping is a finding. The dump is analysed twice: as the
/// command loads it, and in guarded RAM, so a read past the dump faults.
/// </summary>
internal static class AnalyzeTarget
{
    public static void Run(GuardedRam ram, ReadOnlySpan<byte> data)
    {
        var input = new FuzzInput(data);
        int queueLength = input.U16();
        int virtioLength = input.U16();
        string queueJson = Encoding.UTF8.GetString(input.Bytes(queueLength));
        string? virtioJson = virtioLength == 0 ? null : Encoding.UTF8.GetString(input.Bytes(virtioLength));
        ReadOnlySpan<byte> dump = input.Rest();
        try
        {
            using var stream = new MemoryStream(dump.ToArray());
            HangReport report = DumpAnalysis.Analyze(stream, 0, queueJson, virtioJson);
            _ = report.ToText();
            _ = report.ToJson(indented: true);
        }
        catch (DiagnosticInputException)
        {
        }

        if (dump.Length == 0 || dump.Length > ram.Size - 8)
        {
            return;
        }

        try
        {
            QueueStatus status = QueueStatus.Parse(queueJson);
            (bool eventIdx, bool broken) = virtioJson is null ? (false, false) : DumpAnalysis.ParseVirtioStatus(virtioJson);
            // The dump ends at the guard page; its length is rounded up to 8 (zeroes) because a region keeps guest and
            // host addresses aligned alike (a real pmemsave dump is whole pages).
            int length = (dump.Length + 7) & ~7;
            using GuestMemory fresh = ram.Fresh();
            using var guarded = new GuestMemory(GuestMemoryRegion.Wrap(0, (ulong)length, ram.Host + ram.Size - length));
            dump.CopyTo(ram.Bytes[(ram.Size - length)..]);
            _ = DumpAnalysis.Analyze(guarded, status, eventIdx, broken).ToText();
        }
        catch (DiagnosticInputException)
        {
        }
    }
}
