using Virtio.Testing;
using CsCheck;
using Virtio.Driver;
using Virtio.Rings;

namespace Virtio.Core.Tests.Properties;

/// <summary>
/// Random interleavings of everything a driver and a device do on one ring, checked against a plain reference
/// model: buffers reach the device in avail order, the driver gets exactly what the device pushed in used order,
/// descriptors are conserved, and no notification is missed in either direction when one is due.
/// </summary>
public class RingModelProperties
{
    private enum Op
    {
        Add, KickPrepare, Pop, PushOne, PushBatch, GetAll, DisableCb, EnableCb, DisableNotify, EnableNotifyRecheck,
    }

    /// <summary>
    /// One step of the interleaving with its own draw: how many segments an Add's chain has, how many chains a Pop
    /// takes, which popped chains a push completes (devices complete out of order). Shrinks to 0: one segment, one
    /// pop, the oldest chain first.
    /// </summary>
    private readonly record struct Step(Op Op, int Arg)
    {
        public override string ToString() => $"{Op}({Arg})";
    }

    private static readonly Gen<Step> Steps = Gen.Select(Gen.Enum<Op>(), Gen.Int[0, 255], (op, arg) => new Step(op, arg));

    [Theory]
    [InlineData(true, false)]
    [InlineData(false, false)]
    [InlineData(true, true)]
    [InlineData(false, true)]
    public void Random_interleavings_lose_duplicate_reorder_nothing_and_miss_no_notification(bool eventIdx, bool indirect)
    {
        Gen.Select(RingGen.Size, Steps.Array[1, 250])
            .Sample((size, steps) => RunModel(size, steps, eventIdx, indirect), iter: 250, threads: 1);
    }

    private static void RunModel(int size, Step[] steps, bool eventIdx, bool indirect)
    {
        using var h = new RingHarness(size, eventIdx, indirect, memorySize: 0x200_0000);
        var avail = new Queue<int>();                // added, not yet popped: avail order
        var popped = new List<(ushort Head, int Token)>();
        var used = new Queue<int>();                 // pushed, not yet got: used order
        int nextToken = 0;
        int descriptorsInFlight = 0;
        var descriptorsOf = new Dictionary<int, int>();
        bool deviceSleeping = false, addedSinceDeviceSlept = false, driverSleeping = false;
        var seen = new HashSet<int>();               // every token the driver got back, over the whole run
        byte[] tokenBytes = new byte[4];
        var trace = new System.Text.StringBuilder();

        void Push(int count, int pick)
        {
            for (int i = 0; i < count; i++)
            {
                int k = (pick + i) % popped.Count; // any order: devices complete out of order
                (ushort head, int token) = popped[k];
                popped.RemoveAt(k);
                h.Device.Fill(head, 0, i);
                used.Enqueue(token);
            }

            h.Device.Flush(count);
            bool notify = h.Device.ShouldNotify();
            if (driverSleeping)
            {
                Assert.True(notify, "the driver re-enabled callbacks and saw nothing; this completion must interrupt it");
                driverSleeping = false;
            }
        }

        foreach (Step step in steps)
        {
            trace.Append(step).Append(" avail=").Append(h.GuestAvailIdx).Append(" last_avail=").Append(h.Device.LastAvailIdx)
                .Append(" avail_event=").Append(h.AvailEvent).Append(" notif=").Append(h.Device.NotificationEnabled).Append("; ");
            switch (step.Op)
            {
                case Op.Add:
                    int segments = 1 + (step.Arg % Math.Min(3, size));
                    int needed = indirect && segments > 1 ? 1 : segments;
                    if (h.Driver.NumFree < needed)
                    {
                        break;
                    }

                    int token = nextToken++;
                    GuestSegment first = h.Buffer(8);
                    h.Memory.Write(first.Address, token);
                    GuestSegment[] writable = [.. Enumerable.Range(1, segments - 1).Select(_ => h.Buffer(8))];
                    Assert.Equal(AddResult.Added, h.Driver.Add([first], writable, token));
                    avail.Enqueue(token);
                    descriptorsOf[token] = needed;
                    descriptorsInFlight += needed;
                    addedSinceDeviceSlept |= deviceSleeping;
                    break;

                case Op.KickPrepare:
                    bool kick = h.Driver.KickPrepare();
                    if (deviceSleeping && addedSinceDeviceSlept)
                    {
                        Assert.True(kick, "the device re-enabled notifications on an empty ring; new buffers must kick it: " + trace);
                    }

                    if (kick)
                    {
                        deviceSleeping = false;
                    }

                    addedSinceDeviceSlept = false;
                    break;

                case Op.Pop:
                    int n = 1 + (step.Arg % 3);
                    for (int i = 0; i < n; i++)
                    {
                        PopResult r = h.Device.Pop(out DescriptorChain chain);
                        if (r == PopResult.Empty)
                        {
                            Assert.Empty(avail);
                            break;
                        }

                        Assert.Equal(PopResult.Chain, r);
                        Assert.Equal(4, chain.CopyFromReadable(tokenBytes));
                        int got = BitConverter.ToInt32(tokenBytes);
                        Assert.Equal(avail.Dequeue(), got);
                        popped.Add((chain.Head, got));
                        deviceSleeping = false;
                    }

                    break;

                case Op.PushOne when popped.Count > 0:
                    Push(1, step.Arg);
                    break;

                case Op.PushBatch when popped.Count > 0:
                    Push(1 + (step.Arg % popped.Count), step.Arg);
                    break;

                case Op.GetAll:
                    while (h.Driver.TryGetBuffer(out int tok, out _))
                    {
                        Assert.Equal(used.Dequeue(), tok);
                        Assert.True(seen.Add(tok), $"token {tok} returned twice");
                        descriptorsInFlight -= descriptorsOf[tok];
                        driverSleeping = false;
                    }

                    Assert.Empty(used);
                    Assert.Equal(size, h.Driver.NumFree + descriptorsInFlight);
                    break;

                case Op.DisableCb:
                    h.Driver.DisableCallbacks();
                    driverSleeping = false;
                    break;

                case Op.EnableCb:
                    if (h.Driver.EnableCallbacks())
                    {
                        Assert.Empty(used);
                        driverSleeping = true;
                    }
                    else
                    {
                        Assert.NotEmpty(used);
                    }

                    break;

                case Op.DisableNotify:
                    h.Device.SetNotification(false);
                    deviceSleeping = false;
                    break;

                case Op.EnableNotifyRecheck:
                    if (h.Device.EnableNotificationAndRecheck())
                    {
                        Assert.NotEmpty(avail);
                        deviceSleeping = false; // it found work: awake, owed no kick
                    }
                    else
                    {
                        Assert.Empty(avail);
                        deviceSleeping = true;
                        addedSinceDeviceSlept = false;
                    }

                    break;
            }

            Assert.False(h.Device.IsBroken, h.Device.Error?.Message);
            Assert.False(h.Driver.IsBroken, h.Driver.Error?.Message);
        }

        // Drain: every token added comes back exactly once.
        while (true)
        {
            while (h.Device.Pop(out DescriptorChain c) == PopResult.Chain)
            {
                c.CopyFromReadable(tokenBytes);
                popped.Add((c.Head, BitConverter.ToInt32(tokenBytes)));
            }

            if (popped.Count > 0)
            {
                Push(popped.Count, 0);
            }

            bool any = false;
            while (h.Driver.TryGetBuffer(out int tok, out _))
            {
                Assert.True(seen.Add(tok), $"token {tok} returned twice");
                any = true;
            }

            if (!any)
            {
                break;
            }
        }

        Assert.Equal(nextToken, seen.Count);
        Assert.Equal(0, h.Driver.InFlight);
        Assert.Equal(size, h.Driver.NumFree);
        Assert.Equal(0, h.Device.InUse);
    }
}
