using System.Buffers.Binary;
using Virtio.Devices.Net;

namespace Virtio.Devices.Tests.Net;

/// <summary>The rx backlog on its own: bounded, in order per producer, and lock-free producers against one consumer on real threads.</summary>
public class NetRxBacklogTests
{
    [Theory]
    [InlineData(4)]
    [InlineData(5)] // not a power of two: indexed by division
    public void Holds_capacity_frames_in_order_then_refuses_until_the_consumer_frees_a_slot(int capacity)
    {
        var backlog = new NetRxBacklog(capacity);
        for (int lap = 0; lap < 3; lap++)
        {
            for (int i = 0; i < capacity; i++)
            {
                Assert.True(backlog.TryEnqueue(new VirtioNetHeader { GsoSize = (ushort)i }, Frame(i, 60 + i), remember: false));
            }

            Assert.Equal(capacity, backlog.Count);
            Assert.False(backlog.TryEnqueue(default, Frame(99, 60), remember: false));
            Assert.False(backlog.TakeRefusal()); // not remembered
            Assert.False(backlog.TryEnqueue(default, Frame(99, 60), remember: true));
            Assert.True(backlog.TakeRefusal());
            Assert.False(backlog.TakeRefusal()); // taken once

            for (int i = 0; i < capacity; i++)
            {
                Assert.True(backlog.TryPeek(out VirtioNetHeader header, out Span<byte> frame));
                Assert.Equal(i, header.GsoSize);
                Assert.Equal(Frame(i, 60 + i), frame.ToArray());
                backlog.Dequeue();
            }

            Assert.False(backlog.TryPeek(out _, out _));
            Assert.Equal(0, backlog.Count);
        }
    }

    [Fact]
    public void A_slot_grows_for_a_large_frame_and_clear_discards_what_is_published()
    {
        var backlog = new NetRxBacklog(2);
        byte[] jumbo = Frame(7, VirtioNetDevice.MaxFrameLength);
        Assert.True(backlog.TryEnqueue(default, jumbo, remember: false));
        Assert.True(backlog.TryEnqueue(default, Frame(8, 60), remember: false));
        Assert.True(backlog.TryPeek(out _, out Span<byte> frame));
        Assert.Equal(jumbo, frame.ToArray());
        Assert.Equal(2, backlog.Clear());
        Assert.Equal(0, backlog.Count);
        Assert.False(backlog.TryPeek(out _, out _));
        Assert.True(backlog.TryEnqueue(default, Frame(9, 60), remember: false));
        Assert.True(backlog.TryPeek(out _, out frame));
        Assert.Equal(Frame(9, 60), frame.ToArray());
    }

    [Theory]
    [InlineData(4)]
    [InlineData(5)]
    public void The_own_lane_holds_capacity_frames_in_order_is_taken_first_and_refuses_when_full(int capacity)
    {
        var backlog = new NetRxBacklog(capacity);
        Assert.True(backlog.TryEnqueue(new VirtioNetHeader { GsoSize = 100 }, Frame(100, 60), remember: false));
        for (int lap = 0; lap < 3; lap++)
        {
            for (int i = 0; i < capacity; i++)
            {
                Assert.True(backlog.TryEnqueueOwn(new VirtioNetHeader { GsoSize = (ushort)i }, Frame(i, 60 + i), remember: false));
            }

            Assert.Equal(capacity + 1, backlog.Count);
            Assert.False(backlog.TryEnqueueOwn(default, Frame(99, 60), remember: false));
            Assert.False(backlog.TakeRefusal());
            Assert.False(backlog.TryEnqueueOwn(default, Frame(99, 60), remember: true));
            Assert.True(backlog.TakeRefusal());

            for (int i = 0; i < capacity; i++)
            {
                Assert.True(backlog.TryPeek(out VirtioNetHeader header, out Span<byte> frame));
                Assert.Equal(i, header.GsoSize);
                Assert.Equal(Frame(i, 60 + i), frame.ToArray());
                backlog.SetHeadHeader(new VirtioNetHeader { GsoSize = 7 }); // the peeked lane's frame
                Assert.True(backlog.TryPeek(out header, out _));
                Assert.Equal(7, header.GsoSize);
                backlog.Dequeue();
            }

            Assert.Equal(1, backlog.Count); // the shared lane's frame waits behind the own lane's
        }

        Assert.True(backlog.TryPeek(out VirtioNetHeader shared, out Span<byte> sharedFrame));
        Assert.Equal(100, shared.GsoSize);
        Assert.Equal(Frame(100, 60), sharedFrame.ToArray());
        Assert.True(backlog.TryEnqueueOwn(default, Frame(1, 60), remember: false));
        Assert.Equal(2, backlog.Clear());
        Assert.Equal(0, backlog.Count);
        Assert.False(backlog.TryPeek(out _, out _));
    }

    /// <summary>
    /// Three producer threads that must not drop (they wait when refused) against one consumer thread that signals
    /// them when it took a refusal: every frame arrives whole, each producer's in its order, and no refused producer
    /// is left waiting for a signal that never comes.
    /// </summary>
    [Theory]
    [InlineData(4, false)]
    [InlineData(3, false)]
    [InlineData(4, true)] // producer 0 on the own lane (no compare-and-swap), the two others on the shared one
    [InlineData(3, true)]
    public void Producers_on_three_threads_and_one_consumer_lose_nothing_and_keep_each_producers_order(int capacity, bool ownLane)
    {
        const int producers = 3, perProducer = 20_000;
        var backlog = new NetRxBacklog(capacity);
        using var room = new SemaphoreSlim(0);
        var threads = new Thread[producers];
        for (int p = 0; p < producers; p++)
        {
            int id = p;
            threads[p] = new Thread(() =>
            {
                for (int n = 0; n < perProducer; n++)
                {
                    byte[] frame = Frame((id << 24) | n, 60 + (n % 200));
                    var header = new VirtioNetHeader { GsoSize = (ushort)id };
                    while (!(ownLane && id == 0 ? backlog.TryEnqueueOwn(header, frame, remember: true) : backlog.TryEnqueue(header, frame, remember: true)))
                    {
                        if (!room.Wait(TimeSpan.FromSeconds(30)))
                        {
                            return; // a lost wake-up: the consumer's count below shows it
                        }
                    }
                }
            });
            threads[p].Start();
        }

        // The deadline is on progress, not on the whole run: a lost wake-up stops every frame for 30 s and fails the
        // test, while a loaded machine that only runs it slowly (it once needed more than a minute) still passes.
        int[] next = new int[producers];
        int received = 0, bad = 0;
        long lastProgress = Environment.TickCount64;
        while (received < producers * perProducer && Environment.TickCount64 - lastProgress < 30_000)
        {
            bool took = false;
            while (backlog.TryPeek(out VirtioNetHeader header, out Span<byte> frame))
            {
                int tag = BinaryPrimitives.ReadInt32BigEndian(frame);
                int id = tag >>> 24, n = tag & 0xFFFFFF;
                bad += id == header.GsoSize && n == next[id] && frame.SequenceEqual(Frame(tag, 60 + (n % 200))) ? 0 : 1;
                next[id] = n + 1;
                backlog.Dequeue();
                received++;
                took = true;
            }

            if (took)
            {
                lastProgress = Environment.TickCount64;
            }

            if (took && backlog.TakeRefusal())
            {
                room.Release(producers); // as ReceiveReady would: every refused producer tries again
            }
            else if (!took)
            {
                Thread.Yield();
            }
        }

        foreach (Thread t in threads)
        {
            Assert.True(t.Join(TimeSpan.FromSeconds(30)));
        }

        Assert.Equal(producers * perProducer, received);
        Assert.Equal(0, bad);
        Assert.All(next, n => Assert.Equal(perProducer, n));
    }

    private static byte[] Frame(int tag, int length)
    {
        byte[] frame = new byte[length];
        BinaryPrimitives.WriteInt32BigEndian(frame, tag);
        for (int i = 4; i < length; i++)
        {
            frame[i] = (byte)(tag + (i * 7));
        }

        return frame;
    }
}
