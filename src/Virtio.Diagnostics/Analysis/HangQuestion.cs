using System.Text.Json.Serialization;

namespace Virtio.Diagnostics;

/// <summary>The questions the analysis answers, in the order of the reference ("How to debug stuck VIRTIO devices").</summary>
[JsonConverter(typeof(JsonStringEnumConverter<HangQuestion>))]
public enum HangQuestion
{
    /// <summary>Is the queue broken (<c>virtio_error</c>)?</summary>
    [JsonStringEnumMemberName("queue-broken")]
    QueueBroken = 0,

    /// <summary>Did the device see the requests the driver submitted (guest <c>avail-&gt;idx</c> vs <c>shadow_avail_idx</c>)?</summary>
    [JsonStringEnumMemberName("device-saw-requests")]
    DeviceSawRequests,

    /// <summary>Did the device complete the requests it took (<c>last_avail_idx</c> vs <c>used_idx</c>, <c>inuse</c>)?</summary>
    [JsonStringEnumMemberName("device-completed-requests")]
    DeviceCompletedRequests,

    /// <summary>Did the driver see the completions (<c>used_event</c> vs <c>used_idx</c>, EVENT_IDX only)?</summary>
    [JsonStringEnumMemberName("driver-saw-completions")]
    DriverSawCompletions,
}
