using System.IO.MemoryMappedFiles;
using System.Text.Json;
using Virtio.Memory;
using Virtio.Rings;

namespace Virtio.Diagnostics;

/// <summary>
/// Hang analysis of a saved guest: a raw RAM dump (QEMU's <c>pmemsave</c>), the queue's
/// <c>x-query-virtio-queue-status</c> reply and, to know whether EVENT_IDX was negotiated, the device's
/// <c>x-query-virtio-status</c> reply or an explicit flag. Bad input is refused with a
/// <see cref="DiagnosticInputException"/> that says what and where.
/// </summary>
public static class DumpAnalysis
{
    private const string EventIdxFeature = "VIRTIO_RING_F_EVENT_IDX";

    /// <summary>Parses the guest-physical address of a dump's first byte as <c>--ram-base</c> takes it: decimal or 0x-prefixed hex.</summary>
    /// <exception cref="DiagnosticInputException">It is neither, or not below 2^64.</exception>
    public static ulong ParseAddress(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string t = text.Trim();
        bool ok = t.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? ulong.TryParse(t.AsSpan(2), System.Globalization.NumberStyles.AllowHexSpecifier, System.Globalization.CultureInfo.InvariantCulture, out ulong value)
            : ulong.TryParse(t, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out value);
        return ok ? value : throw new DiagnosticInputException(DiagnosticInputErrorKind.InvalidOption, $"--ram-base {text}: not an address (a whole number, decimal or 0x hex, below 2^64)");
    }

    /// <summary>Analyses a dump held in files.</summary>
    /// <param name="ramPath">The raw RAM dump.</param>
    /// <param name="ramBase">The guest-physical address of the dump's first byte.</param>
    /// <param name="queueStatusPath">The queue-status reply, with or without the <c>return</c> wrapper.</param>
    /// <param name="virtioStatusPath">The device-status reply, or null.</param>
    /// <param name="eventIdx">Whether EVENT_IDX was negotiated; overrides the device status; null when not given.</param>
    /// <exception cref="DiagnosticInputException">A file is unreadable or its content unusable.</exception>
    public static HangReport AnalyzeFiles(string ramPath, ulong ramBase, string queueStatusPath, string? virtioStatusPath = null, bool? eventIdx = null)
    {
        ArgumentNullException.ThrowIfNull(ramPath);
        ArgumentNullException.ThrowIfNull(queueStatusPath);
        string queueStatusJson = ReadText(queueStatusPath, "--queue-status");
        string? virtioStatusJson = virtioStatusPath is null ? null : ReadText(virtioStatusPath, "--virtio-status");
        (QueueStatus status, bool? negotiated, bool broken, int? queueCount) = ParseInputs(queueStatusJson, virtioStatusJson, eventIdx);
        using GuestMemory memory = MapDump(ramPath, ramBase);
        return Analyze(memory, status, negotiated, broken, queueCount);
    }

    /// <summary>Analyses a dump read from a stream (loaded into memory).</summary>
    /// <exception cref="DiagnosticInputException">The content is unusable.</exception>
    public static HangReport Analyze(Stream ram, ulong ramBase, string queueStatusJson, string? virtioStatusJson = null, bool? eventIdx = null)
    {
        ArgumentNullException.ThrowIfNull(ram);
        ArgumentNullException.ThrowIfNull(queueStatusJson);
        (QueueStatus status, bool? negotiated, bool broken, int? queueCount) = ParseInputs(queueStatusJson, virtioStatusJson, eventIdx);
        if (ram.CanSeek && ram.Length - ram.Position <= 0)
        {
            throw new DiagnosticInputException(DiagnosticInputErrorKind.DumpTruncated, "the RAM dump is empty");
        }

        using GuestMemory memory = LoadDump(ram, ramBase);
        return Analyze(memory, status, negotiated, broken, queueCount);
    }

    /// <summary>
    /// Analyses a queue in guest RAM given its status: reads the guest ring fields (read-only) after checking every
    /// ring area lies inside <paramref name="memory"/>.
    /// </summary>
    /// <exception cref="DiagnosticInputException">The queue size is invalid or a ring area is outside the memory.</exception>
    /// <param name="memory">Guest RAM.</param>
    /// <param name="status">The queue's status.</param>
    /// <param name="eventIdx">Whether EVENT_IDX was negotiated; null when unknown.</param>
    /// <param name="broken">Whether the device is broken.</param>
    /// <param name="queueCount">The device's queues (<c>num-vqs</c>), when known: tells virtio-net's control queue from its rx queues.</param>
    public static HangReport Analyze(GuestMemory memory, QueueStatus status, bool? eventIdx, bool broken = false, int? queueCount = null)
    {
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentNullException.ThrowIfNull(status);
        GuestRingFields guest = ReadGuestFields(memory, status, eventIdx);
        return HangAnalysis.Analyze(new HangAnalysisInput(status, guest)
        {
            EventIdx = eventIdx,
            Broken = broken,
            PopsOnDemand = HangAnalysisInput.PopsOnDemandFor(status.Name, status.QueueIndex, queueCount),
        });
    }

    /// <summary>
    /// Reads <c>avail-&gt;flags</c>, <c>avail-&gt;idx</c>, <c>used_event</c>, <c>used-&gt;flags</c>, <c>used-&gt;idx</c>
    /// and <c>avail_event</c> at the addresses of <paramref name="status"/>, as <see cref="SplitQueue.ReadGuestFields"/>
    /// does for a live queue. Without EVENT_IDX (or when unknown) the two event fields read as 0 when outside memory.
    /// </summary>
    /// <exception cref="DiagnosticInputException">The queue size is invalid or a ring area is outside the memory.</exception>
    public static GuestRingFields ReadGuestFields(GuestMemory memory, QueueStatus status, bool? eventIdx)
    {
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentNullException.ThrowIfNull(status);
        int num = CheckSize(status);
        bool events = eventIdx is true;
        CheckArea(memory, "descriptor table (vring-desc)", status.VringDesc, SplitRing.DescriptorTableBytes(num));
        CheckArea(memory, "avail ring (vring-avail)", status.VringAvail, SplitRing.AvailRingBytes(num, events));
        CheckArea(memory, "used ring (vring-used)", status.VringUsed, SplitRing.UsedRingBytes(num, events));

        ulong usedEventAt = status.VringAvail + SplitRing.UsedEventOffset(num);
        ulong availEventAt = status.VringUsed + SplitRing.AvailEventOffset(num);
        return new GuestRingFields(
            AvailFlags: memory.Read<ushort>(status.VringAvail),
            AvailIdx: memory.Read<ushort>(status.VringAvail + SplitRing.IdxOffset),
            UsedEvent: memory.TryRead(usedEventAt, out ushort usedEvent) == GuestMemoryError.None ? usedEvent : (ushort)0,
            UsedFlags: memory.Read<ushort>(status.VringUsed),
            UsedIdx: memory.Read<ushort>(status.VringUsed + SplitRing.IdxOffset),
            AvailEvent: memory.TryRead(availEventAt, out ushort availEvent) == GuestMemoryError.None ? availEvent : (ushort)0);
    }

    /// <summary>
    /// Whether an <c>x-query-virtio-status</c> reply (with or without the <c>return</c> wrapper) shows
    /// VIRTIO_RING_F_EVENT_IDX among the driver's (guest) features, and whether the device is broken.
    /// </summary>
    /// <exception cref="DiagnosticInputException">The text is not a device status.</exception>
    public static (bool EventIdx, bool Broken) ParseVirtioStatus(string json)
    {
        (bool eventIdx, bool broken, _) = ParseDeviceStatus(json);
        return (eventIdx, broken);
    }

    /// <summary><see cref="ParseVirtioStatus"/>, and <c>num-vqs</c> when the reply has it.</summary>
    private static (bool EventIdx, bool Broken, int? QueueCount) ParseDeviceStatus(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        const string What = "virtio status";
        using JsonDocument document = QmpJson.ParseDocument(json, What);
        JsonElement body = QmpJson.UnwrapReturn(document.RootElement, What);
        if (!body.TryGetProperty("guest-features", out JsonElement features))
        {
            throw new DiagnosticInputException(DiagnosticInputErrorKind.MissingField, $"{What}: missing field 'guest-features' (the features the driver acknowledged)");
        }

        if (features.ValueKind != JsonValueKind.Object
            || !features.TryGetProperty("transports", out JsonElement transports))
        {
            throw new DiagnosticInputException(DiagnosticInputErrorKind.MissingField, $"{What}: missing field 'guest-features.transports'");
        }

        if (transports.ValueKind != JsonValueKind.Array)
        {
            throw new DiagnosticInputException(DiagnosticInputErrorKind.MalformedJson, $"{What}: 'guest-features.transports' is {transports.ValueKind}, expected an array of strings");
        }

        // QEMU decodes each bit as "NAME: description" (qmp_decode_features); match the name.
        bool eventIdx = false;
        foreach (JsonElement t in transports.EnumerateArray())
        {
            if (t.ValueKind != JsonValueKind.String)
            {
                throw new DiagnosticInputException(DiagnosticInputErrorKind.MalformedJson, $"{What}: 'guest-features.transports' holds a {t.ValueKind}, expected strings");
            }

            string name = t.GetString()!;
            int colon = name.IndexOf(':', StringComparison.Ordinal);
            eventIdx |= (colon < 0 ? name : name[..colon]).Trim() == EventIdxFeature;
        }

        bool broken = body.TryGetProperty("broken", out JsonElement b) && b.ValueKind == JsonValueKind.True;
        int? queueCount = body.TryGetProperty("num-vqs", out JsonElement n) && n.ValueKind == JsonValueKind.Number && n.TryGetInt32(out int count) ? count : null;
        return (eventIdx, broken, queueCount);
    }

    private static (QueueStatus Status, bool? EventIdx, bool Broken, int? QueueCount) ParseInputs(string queueStatusJson, string? virtioStatusJson, bool? eventIdx)
    {
        QueueStatus status = QueueStatus.Parse(queueStatusJson);
        CheckSize(status);
        bool broken = false;
        bool? negotiated = eventIdx;
        int? queueCount = null;
        if (virtioStatusJson is not null)
        {
            (bool fromFeatures, broken, queueCount) = ParseDeviceStatus(virtioStatusJson);
            negotiated ??= fromFeatures;
        }

        return (status, negotiated, broken, queueCount);
    }

    private static int CheckSize(QueueStatus status)
    {
        uint num = status.VringNum;
        if (num > SplitRing.MaxQueueSize || !SplitRing.IsValidSize((int)num))
        {
            throw new DiagnosticInputException(DiagnosticInputErrorKind.InvalidQueueSize, $"queue status: vring-num {num} is not a valid queue size (a power of two from 1 to {SplitRing.MaxQueueSize})");
        }

        return (int)num;
    }

    private static void CheckArea(GuestMemory memory, string name, ulong address, ulong length)
    {
        if (memory.IsValidRange(address, length))
        {
            return;
        }

        ulong start = memory.Regions.Count == 0 ? 0 : memory.Regions[0].GuestPhysicalAddress;
        ulong end = memory.EndAddress;
        if (address >= start && address < end)
        {
            throw new DiagnosticInputException(DiagnosticInputErrorKind.DumpTruncated,
                $"the RAM dump [0x{start:x}, 0x{end:x}) ends inside the {name} [0x{address:x}, 0x{address + length:x}): is the dump truncated?");
        }

        throw new DiagnosticInputException(DiagnosticInputErrorKind.RingOutsideDump,
            $"the {name} at 0x{address:x} lies outside the RAM dump [0x{start:x}, 0x{end:x}): check --ram-base and that the dump and the queue status come from the same guest");
    }

    /// <summary>The largest QMP reply read (QEMU's are a few KiB): a FIFO or /dev/zero given as a reply ends here instead of filling memory.</summary>
    private const int MaxReplyBytes = 4 << 20;

    private static string ReadText(string path, string option)
    {
        if (Directory.Exists(path))
        {
            throw new DiagnosticInputException(DiagnosticInputErrorKind.FileUnreadable, $"{option} {path}: is a directory; give the file");
        }

        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var reader = new StreamReader(file, System.Text.Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
            var text = new System.Text.StringBuilder();
            char[] chunk = new char[64 << 10];
            int n;
            while ((n = reader.Read(chunk, 0, chunk.Length)) > 0)
            {
                text.Append(chunk, 0, n);
                if (text.Length > MaxReplyBytes)
                {
                    throw new DiagnosticInputException(DiagnosticInputErrorKind.FileUnreadable, $"{option} {path}: more than {MaxReplyBytes >> 20} MiB; not a QMP reply");
                }
            }

            return text.ToString();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new DiagnosticInputException(DiagnosticInputErrorKind.FileUnreadable, $"{option} {path}: {e.Message}", e);
        }
    }

    private static GuestMemory LoadDump(Stream ram, ulong ramBase)
    {
        try
        {
            return GuestMemory.FromDump(ram, ramBase);
        }
        catch (ArgumentException e)
        {
            throw new DiagnosticInputException(DiagnosticInputErrorKind.DumpTruncated, $"the RAM dump is unusable: {e.Message}", e);
        }
        catch (GuestMemoryException e)
        {
            throw new DiagnosticInputException(DiagnosticInputErrorKind.InvalidOption, $"the RAM dump does not fit at --ram-base 0x{ramBase:x}: {e.Message}", e);
        }
    }

    // Maps the dump copy-on-write instead of reading it: a RAM image can be gigabytes and only the rings are read.
    private static unsafe GuestMemory MapDump(string path, ulong ramBase)
    {
        if (Directory.Exists(path))
        {
            throw new DiagnosticInputException(DiagnosticInputErrorKind.FileUnreadable, $"--ram {path}: is a directory; give the file");
        }

        long length;
        try
        {
            length = new FileInfo(path).Length;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new DiagnosticInputException(DiagnosticInputErrorKind.FileUnreadable, $"--ram {path}: {e.Message}", e);
        }

        if (length == 0)
        {
            throw new DiagnosticInputException(DiagnosticInputErrorKind.DumpTruncated, $"--ram {path}: the RAM dump is empty");
        }

        if (ramBase + (ulong)length - 1 < ramBase)
        {
            throw new DiagnosticInputException(DiagnosticInputErrorKind.InvalidOption, $"--ram-base 0x{ramBase:x}: a dump of {length} bytes there overflows the address space");
        }

        MemoryMappedFile? file = null;
        MemoryMappedViewAccessor? view = null;
        try
        {
            file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.CopyOnWrite);
            view = file.CreateViewAccessor(0, length, MemoryMappedFileAccess.CopyOnWrite);
            byte* pointer = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
            MemoryMappedFile f = file;
            MemoryMappedViewAccessor v = view;
            var region = GuestMemoryRegion.Wrap(ramBase, (ulong)length, (nint)(pointer + view.PointerOffset), _ =>
            {
                v.SafeMemoryMappedViewHandle.ReleasePointer();
                v.Dispose();
                f.Dispose();
            });
            file = null;
            view = null;
            return new GuestMemory(region);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DiagnosticInputException(DiagnosticInputErrorKind.FileUnreadable, $"--ram {path}: {e.Message}", e);
        }
        finally
        {
            view?.Dispose();
            file?.Dispose();
        }
    }
}
