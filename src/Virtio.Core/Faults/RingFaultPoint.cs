namespace Virtio.Faults;

/// <summary>
/// The places inside the device and driver sides of a split ring where a fault plan may make them misbehave on
/// purpose. Each one reproduces a real bug class deterministically; none is ever taken without a plan.
/// </summary>
public enum RingFaultPoint
{
    /// <summary>
    /// Device: <c>EnableNotificationAndRecheck</c> enables notifications but does not re-read <c>avail-&gt;idx</c>,
    /// so a buffer added while notifications were off waits for a kick that never comes.
    /// </summary>
    DeviceSkipRecheckAfterEnable,

    /// <summary>Device: enabling notifications is ignored, so they stay disabled after the queue is drained.</summary>
    DeviceLeaveNotificationsDisabled,

    /// <summary>
    /// Device: the missing full fence between publishing <c>used-&gt;idx</c> and reading <c>used_event</c>, simulated
    /// by reading <c>used_event</c> before the store (the reordering the fence exists to forbid).
    /// </summary>
    DeviceReadUsedEventBeforeUsedIdx,

    /// <summary>
    /// Driver: the missing full fence between publishing <c>avail-&gt;idx</c> and reading <c>avail_event</c>,
    /// simulated by reading <c>avail_event</c> before the store.
    /// </summary>
    DriverReadAvailEventBeforeAvailIdx,

    /// <summary>Driver: <c>enable_cb</c> and <c>enable_cb_delayed</c> do nothing, so callbacks stay disabled.</summary>
    DriverNeverReenableCallbacks,

    /// <summary>Driver: a kick that <c>kick_prepare</c> asked for is not sent.</summary>
    DriverDropKick,

    /// <summary>
    /// Device: a kick that arrived before DRIVER_OK is dropped and activation does not look at the available ring,
    /// so buffers the driver made available early wait forever (Firecracker before commit 0899ee515).
    /// </summary>
    DeviceDropKickBeforeActivation,
}
