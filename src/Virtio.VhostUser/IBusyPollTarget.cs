namespace Virtio.VhostUser;

/// <summary>What <see cref="KickPoller"/> busy-polls: the device's rings, one at a time, on the poll thread.</summary>
internal interface IBusyPollTarget
{
    /// <summary>Serves ring <paramref name="queue"/> once with notifications left off.</summary>
    /// <returns>True when the ring moved (chains popped).</returns>
    bool Poll(int queue);

    /// <summary>Ends the spell on ring <paramref name="queue"/>: notifications back on, the ring re-checked.</summary>
    void EndPoll(int queue);
}
