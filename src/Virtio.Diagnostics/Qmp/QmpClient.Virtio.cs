using System.Globalization;
using System.Text.Json;
using Virtio.Rings;

namespace Virtio.Diagnostics.Qmp;

// The x-query-virtio* commands (QEMU 7.2 qapi/virtio.json) and guest RAM through HMP, typed.
public sealed partial class QmpClient
{
    /// <summary>The commands the diagnosis needs; all experimental (<c>x-</c>), present since QEMU 7.2.</summary>
    public static IReadOnlyList<string> VirtioCommands { get; } =
    [
        "x-query-virtio", "x-query-virtio-status", "x-query-virtio-queue-status", "x-query-virtio-vhost-queue-status",
        "x-query-virtio-queue-element", "human-monitor-command",
    ];

    /// <summary><c>x-query-virtio</c>: the realized virtio devices.</summary>
    /// <exception cref="QmpException">QEMU answered with an error, or not in QMP.</exception>
    public async Task<IReadOnlyList<VirtioDeviceInfo>> QueryVirtioAsync(CancellationToken cancellationToken = default) =>
        await ExecuteAsync("x-query-virtio", QmpJsonContext.Default.ListVirtioDeviceInfo, cancellationToken).ConfigureAwait(false);

    /// <summary><c>x-query-virtio-status</c> of the device at <paramref name="path"/>, with the reply kept in <see cref="QemuVirtioStatus.Json"/>.</summary>
    /// <exception cref="QmpException">QEMU answered with an error, or not in QMP.</exception>
    public async Task<QemuVirtioStatus> QueryVirtioStatusAsync(string path, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(path);
        const string Command = "x-query-virtio-status";
        JsonElement reply = await ExecuteAsync(Command, new VirtioPathArguments(path), QmpJsonContext.Default.VirtioPathArguments, cancellationToken).ConfigureAwait(false);
        return Convert(Command, reply, QmpJsonContext.Default.QemuVirtioStatus) with { Json = reply.GetRawText() };
    }

    /// <summary>
    /// <c>x-query-virtio-queue-status</c>. Never call it on a device whose <c>vhost-started</c> is true: QEMU 7.2 then
    /// asks the back-end for its ring base (vhost_get_vring_base), which stops a vhost-user back-end's ring.
    /// </summary>
    /// <exception cref="QmpException">QEMU answered with an error, or not in QMP.</exception>
    public async Task<QueueStatus> QueryVirtioQueueStatusAsync(string path, int queue, CancellationToken cancellationToken = default) =>
        (await QueryVirtioQueueStatusRawAsync(path, queue, cancellationToken).ConfigureAwait(false)).Status;

    /// <summary><c>x-query-virtio-vhost-queue-status</c>: where a vhost back-end's ring is; asks nothing of the back-end.</summary>
    /// <exception cref="QmpException">QEMU answered with an error, or not in QMP.</exception>
    public async Task<VhostQueueStatus> QueryVirtioVhostQueueStatusAsync(string path, int queue, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(path);
        return await ExecuteAsync("x-query-virtio-vhost-queue-status", new VirtioQueueArguments(path, checked((ushort)queue)),
            QmpJsonContext.Default.VirtioQueueArguments, QmpJsonContext.Default.VhostQueueStatus, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// <c>x-query-virtio-queue-element</c> at the avail-ring position <paramref name="position"/> (QEMU takes it
    /// modulo the queue size). Beware: QEMU 7.2 reads <c>avail-&gt;idx</c> for the reply through vring_avail_idx, which
    /// updates <c>shadow_avail_idx</c>: query elements after the queue status, never before.
    /// </summary>
    /// <exception cref="QmpException">QEMU answered with an error, or not in QMP.</exception>
    public async Task<QemuQueueElement> QueryVirtioQueueElementAsync(string path, int queue, ushort position, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(path);
        QmpQueueElement e = await ExecuteAsync("x-query-virtio-queue-element", new VirtioElementArguments(path, checked((ushort)queue), position),
            QmpJsonContext.Default.VirtioElementArguments, QmpJsonContext.Default.QmpQueueElement, cancellationToken).ConfigureAwait(false);
        return new QemuQueueElement(position, e.Index, e.Descs.Select(d => new VringDescriptor(d.Addr, d.Len, DecodeFlags(d.Flags))).ToArray());
    }

    /// <summary>
    /// Reads <paramref name="count"/> little-endian 16-bit words of guest-physical memory with HMP
    /// <c>xp /{count}hx {address}</c>, parsed strictly (<see cref="HmpMemoryDump.ParseHalfwords"/>).
    /// </summary>
    /// <exception cref="QmpException">QEMU answered with an error, or its output does not parse.</exception>
    public async Task<ushort[]> ReadGuestHalfwordsAsync(ulong address, int count, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, HmpMemoryDump.MaxHalfwords);
        string command = string.Create(CultureInfo.InvariantCulture, $"xp /{count}hx 0x{address:x}");
        string output = await HumanMonitorCommandAsync(command, cancellationToken).ConfigureAwait(false);
        return HmpMemoryDump.ParseHalfwords(command, output, address, count);
    }

    internal async Task<(QueueStatus Status, string Json)> QueryVirtioQueueStatusRawAsync(string path, int queue, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(path);
        const string Command = "x-query-virtio-queue-status";
        JsonElement reply = await ExecuteAsync(Command, new VirtioQueueArguments(path, checked((ushort)queue)), QmpJsonContext.Default.VirtioQueueArguments, cancellationToken).ConfigureAwait(false);
        return (Convert(Command, reply, DiagnosticsJsonContext.Default.QueueStatus), reply.GetRawText());
    }

    // qmp_decode_vring_desc_flags' names back to bits (avail/used are the packed ring's, bits 7 and 15).
    private static DescriptorFlags DecodeFlags(IReadOnlyList<string> names)
    {
        int bits = 0;
        foreach (string n in names)
        {
            bits |= n switch
            {
                "next" => (int)DescriptorFlags.Next,
                "write" => (int)DescriptorFlags.Write,
                "indirect" => (int)DescriptorFlags.Indirect,
                "avail" => 1 << 7,
                "used" => 1 << 15,
                _ => 0,
            };
        }

        return (DescriptorFlags)bits;
    }
}
