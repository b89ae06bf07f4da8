using System.Text.Json.Serialization;

namespace Virtio.Diagnostics;

/// <summary>What the hang analysis concludes about one queue. The JSON names are stable kebab-case strings.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<HangVerdict>))]
public enum HangVerdict
{
    /// <summary>Nothing is stuck on the ring (with the caveats in the findings).</summary>
    [JsonStringEnumMemberName("healthy")]
    Healthy = 0,

    /// <summary>The driver published buffers the device has not read: a kick was lost or not acted on.</summary>
    [JsonStringEnumMemberName("device-missed-kick")]
    DeviceMissedKick,

    /// <summary>The device popped requests and has not completed (or not published) them.</summary>
    [JsonStringEnumMemberName("device-stuck")]
    DeviceStuck,

    /// <summary>
    /// The device completed requests the driver has not consumed, and a notification for them was due (visible with
    /// EVENT_IDX only). The ring cannot say whether the notification was lost or was delivered to a driver still in
    /// (or stuck in) its handler (Linux's <c>event_triggered</c> leaves <c>used_event</c> behind in both cases); the
    /// finding of question 3 names both.
    /// </summary>
    [JsonStringEnumMemberName("driver-missed-notification")]
    DriverMissedNotification,

    /// <summary>The queue is broken, or the guest's ring breaks a rule that will break it.</summary>
    [JsonStringEnumMemberName("queue-broken")]
    QueueBroken,

    /// <summary>
    /// The queue moved between two readings (<c>last_avail_idx</c>, <c>used_idx</c> or the guest's indexes): work is
    /// flowing, whatever one snapshot alone would suggest. Only a live diagnosis with two readings gives it.
    /// </summary>
    [JsonStringEnumMemberName("progressing")]
    Progressing,
}
