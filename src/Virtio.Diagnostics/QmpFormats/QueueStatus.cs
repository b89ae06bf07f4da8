using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Virtio.Rings;

namespace Virtio.Diagnostics;

/// <summary>
/// One virtqueue's state exactly as QEMU's <c>x-query-virtio-queue-status</c> returns it (<c>VirtQueueStatus</c> in
/// <c>qapi/virtio.json</c>), with QEMU's field names and types, so a reply captured from a real QEMU and one taken from
/// a <see cref="SplitQueue"/> are analysed alike.
/// </summary>
public sealed record QueueStatus
{
    /// <summary>The <c>vring-align</c> QEMU reports for split rings (<c>VIRTIO_PCI_VRING_ALIGN</c>).</summary>
    public const uint QemuVringAlign = SplitRingLayout.LegacyAlignment;

    /// <summary><c>name</c>: the device name, such as <c>virtio-blk</c>.</summary>
    [JsonPropertyName("name")]
    public required string Name { get; init; }

    /// <summary><c>queue-index</c>.</summary>
    [JsonPropertyName("queue-index")]
    public required ushort QueueIndex { get; init; }

    /// <summary><c>inuse</c>: chains popped and not yet pushed.</summary>
    [JsonPropertyName("inuse")]
    public required uint InUse { get; init; }

    /// <summary><c>vring-num</c>: the queue size in use.</summary>
    [JsonPropertyName("vring-num")]
    public required uint VringNum { get; init; }

    /// <summary><c>vring-num-default</c>: the largest size the device offers.</summary>
    [JsonPropertyName("vring-num-default")]
    public required uint VringNumDefault { get; init; }

    /// <summary><c>vring-align</c>: the used-ring alignment (4096 for split rings in QEMU).</summary>
    [JsonPropertyName("vring-align")]
    public required uint VringAlign { get; init; }

    /// <summary><c>vring-desc</c>: guest-physical address of the descriptor table.</summary>
    [JsonPropertyName("vring-desc")]
    public required ulong VringDesc { get; init; }

    /// <summary><c>vring-avail</c>: guest-physical address of the available ring.</summary>
    [JsonPropertyName("vring-avail")]
    public required ulong VringAvail { get; init; }

    /// <summary><c>vring-used</c>: guest-physical address of the used ring.</summary>
    [JsonPropertyName("vring-used")]
    public required ulong VringUsed { get; init; }

    /// <summary><c>last-avail-idx</c>: the next available-ring entry the device pops.</summary>
    /// <remarks>QEMU omits it while vhost runs the queue; the analysis needs it, so parsing requires it.</remarks>
    [JsonPropertyName("last-avail-idx")]
    public required ushort LastAvailIdx { get; init; }

    /// <summary><c>shadow-avail-idx</c>: the last <c>avail-&gt;idx</c> the device read from guest RAM.</summary>
    [JsonPropertyName("shadow-avail-idx")]
    public required ushort ShadowAvailIdx { get; init; }

    /// <summary><c>used-idx</c>: the used index the device last published.</summary>
    [JsonPropertyName("used-idx")]
    public required ushort UsedIdx { get; init; }

    /// <summary><c>signalled-used</c>: <c>used_idx</c> at the device's last EVENT_IDX notify decision.</summary>
    [JsonPropertyName("signalled-used")]
    public required ushort SignalledUsed { get; init; }

    /// <summary><c>signalled-used-valid</c>.</summary>
    [JsonPropertyName("signalled-used-valid")]
    public required bool SignalledUsedValid { get; init; }

    /// <summary>
    /// Takes the status of <paramref name="queue"/> as <c>qmp_x_query_virtio_queue_status</c> does. Reads only the
    /// queue's shadow state and configuration: the queue and guest RAM are not changed, and the thread running the
    /// queue allocates nothing for it. QEMU takes it under the big lock, with the device still; here the fields are
    /// read without stopping the device, so on a queue that is moving they may come from slightly different moments:
    /// take it on a stalled queue (as the watchdog does) or with the device paused when the numbers must agree.
    /// </summary>
    /// <param name="queue">The queue.</param>
    /// <param name="deviceName">The device name to report (QEMU's <c>vdev-&gt;name</c>, such as <c>virtio-blk</c>).</param>
    public static QueueStatus Capture(SplitQueue queue, string deviceName)
    {
        ArgumentNullException.ThrowIfNull(queue);
        ArgumentNullException.ThrowIfNull(deviceName);
        SplitQueueState state = queue.GetState();
        return new QueueStatus
        {
            Name = deviceName,
            QueueIndex = (ushort)queue.Index,
            InUse = (uint)state.InUse,
            VringNum = (uint)queue.Size,
            VringNumDefault = (uint)queue.MaxSize,
            VringAlign = QemuVringAlign,
            VringDesc = queue.DescriptorTableAddress,
            VringAvail = queue.AvailRingAddress,
            VringUsed = queue.UsedRingAddress,
            LastAvailIdx = state.LastAvailIdx,
            ShadowAvailIdx = state.ShadowAvailIdx,
            UsedIdx = state.UsedIdx,
            SignalledUsed = state.SignalledUsed,
            SignalledUsedValid = state.SignalledUsedValid,
        };
    }

    /// <summary>The bare JSON object, as the <c>return</c> member of the QMP reply holds it.</summary>
    /// <param name="indented">Indent as the reference replies are shown; QMP itself sends one line.</param>
    public string ToJson(bool indented = false) =>
        JsonSerializer.Serialize(this, DiagnosticsJsonContext.For(indented).QueueStatus);

    /// <summary>The full QMP reply: <c>{"return": {...}}</c>.</summary>
    /// <param name="indented">Indent as the reference replies are shown.</param>
    public string ToQmpReplyJson(bool indented = false) =>
        JsonSerializer.Serialize(new QmpReturn<QueueStatus>(this), DiagnosticsJsonContext.For(indented).QmpReturnQueueStatus);

    /// <summary>
    /// Parses a queue status: the bare object or a whole QMP reply (<c>{"return": {...}}</c>). A QMP error reply, bad
    /// JSON, a missing field or a value out of its QAPI range is refused with a typed error.
    /// </summary>
    /// <exception cref="DiagnosticInputException">The text is not a queue status.</exception>
    public static QueueStatus Parse(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        using JsonDocument document = QmpJson.ParseDocument(json, "queue status");
        JsonElement body = QmpJson.UnwrapReturn(document.RootElement, "queue status");
        try
        {
            return body.Deserialize(DiagnosticsJsonContext.Default.QueueStatus)
                ?? throw new DiagnosticInputException(DiagnosticInputErrorKind.MalformedJson, "queue status: null");
        }
        catch (JsonException e)
        {
            throw QmpJson.Describe(e, "queue status");
        }
    }

    /// <summary>
    /// The text HMP's <c>info virtio-queue-status</c> prints (<c>hmp_virtio_queue_status</c>), byte for byte, with LF
    /// line ends (the monitor sends CR LF).
    /// </summary>
    /// <param name="qomPath">The QOM path of the device, such as <c>/machine/peripheral/blk0/virtio-backend</c>.</param>
    public string ToHmpText(string qomPath)
    {
        ArgumentNullException.ThrowIfNull(qomPath);
        CultureInfo c = CultureInfo.InvariantCulture;
        var s = new StringBuilder(512);

        // QEMU prints the uint32 fields with %d (PRId32), so they are shown as signed 32-bit values.
        s.Append(c, $"{qomPath}:\n");
        s.Append(c, $"  device_name:          {Name}\n");
        s.Append(c, $"  queue_index:          {QueueIndex}\n");
        s.Append(c, $"  inuse:                {(int)InUse}\n");
        s.Append(c, $"  used_idx:             {UsedIdx}\n");
        s.Append(c, $"  signalled_used:       {SignalledUsed}\n");
        s.Append(c, $"  signalled_used_valid: {(SignalledUsedValid ? "true" : "false")}\n");
        s.Append(c, $"  last_avail_idx:       {LastAvailIdx}\n");
        s.Append(c, $"  shadow_avail_idx:     {ShadowAvailIdx}\n");
        s.Append("  VRing:\n");
        s.Append(c, $"    num:          {(int)VringNum}\n");
        s.Append(c, $"    num_default:  {(int)VringNumDefault}\n");
        s.Append(c, $"    align:        {(int)VringAlign}\n");
        s.Append(c, $"    desc:         0x{VringDesc:x16}\n");
        s.Append(c, $"    avail:        0x{VringAvail:x16}\n");
        s.Append(c, $"    used:         0x{VringUsed:x16}\n");
        return s.ToString();
    }
}
