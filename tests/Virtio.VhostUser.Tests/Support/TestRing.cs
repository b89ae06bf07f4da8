using Virtio.Devices.Block;
using Virtio.Driver;
using Virtio.Rings;

namespace Virtio.VhostUser.Tests.Support;

/// <summary>A ring set up through the protocol and driven by the Linux-model driver, with its kick and call eventfds.</summary>
internal sealed class TestRing : IDisposable
{
    private readonly ScriptedFrontEnd _fe;

    private readonly uint _index;
    private readonly SplitRingLayout _layout;

    private TestRing(ScriptedFrontEnd fe, DriverQueue<int> driver, uint index, SplitRingLayout layout)
    {
        _fe = fe;
        _index = index;
        _layout = layout;
        Driver = driver;
        driver.KickChannel = Kick;
    }

    public DriverQueue<int> Driver { get; }

    public EventFdNotifier Kick { get; } = new();

    public EventFdNotifier Call { get; } = new();

    /// <summary>used->idx as the guest sees it: how many completions the device published.</summary>
    public ushort GuestUsedIdx => _fe.Ram.Read<ushort>(_layout.UsedRing + 2);

    /// <summary>Negotiates, shares guest RAM and starts ring <paramref name="index"/> as QEMU does.</summary>
    public static TestRing Start(ScriptedFrontEnd fe, uint index = 0, ulong ringBase = 0x1000)
    {
        var layout = SplitRingLayout.Create(ringBase, size: 256);
        var ring = new TestRing(fe, new DriverQueue<int>(fe.Ram, layout), index, layout);
        Assert.Equal(0u, ring.SendRingSetUp());
        return ring;
    }

    /// <summary>
    /// Sends this ring's set-up (num, base, addresses, call, kick, enable) for the driver as it is, as QEMU does again
    /// after a reconnect, with <paramref name="ringBase"/> as the base; returns SET_VRING_ENABLE's status, where a ring
    /// that cannot start is refused.
    /// </summary>
    public ulong SendRingSetUp(ushort ringBase = 0, uint num = 256)
    {
        uint index = _index;
        Assert.Equal(0u, _fe.SendAcked(VhostUserRequest.SetVringNum, ScriptedFrontEnd.State(index, num)));
        Assert.Equal(0u, _fe.SendAcked(VhostUserRequest.SetVringBase, ScriptedFrontEnd.State(index, ringBase)));
        Assert.Equal(0u, _fe.SendAcked(VhostUserRequest.SetVringAddr,
            ScriptedFrontEnd.Addr(index, _fe.User(_layout.DescriptorTable), _fe.User(_layout.UsedRing), _fe.User(_layout.AvailRing))));
        Assert.Equal(0u, _fe.SendAcked(VhostUserRequest.SetVringCall, ScriptedFrontEnd.U64(index), [Call.Fd]));
        Assert.Equal(0u, _fe.SendAcked(VhostUserRequest.SetVringKick, ScriptedFrontEnd.U64(index), [Kick.Fd]));
        return _fe.SendAcked(VhostUserRequest.SetVringEnable, ScriptedFrontEnd.State(index, 1));
    }

    /// <summary>One virtio-blk request (1 OUT, 0 IN) of <paramref name="length"/> bytes at <paramref name="data"/>; returns its status byte.</summary>
    public byte Request(uint type, ulong sector, ulong data = 0x40000, uint length = 512, ulong area = 0x80000)
    {
        Submit(type, sector, data, length, area);
        Assert.True(Call.Wait(30_000), "no used-buffer notification");
        Call.TestAndClear();
        Assert.True(Driver.TryGetBuffer(out int token, out _));
        Assert.Equal(7, token);
        return _fe.Ram.Read<byte>(area + 16);
    }

    /// <summary>Adds one virtio-blk request and kicks, without waiting for it.</summary>
    public void Submit(uint type, ulong sector, ulong data = 0x40000, uint length = 512, ulong area = 0x80000)
    {
        new VirtioBlkRequestHeader((VirtioBlkRequestType)type, sector).Write(_fe.Ram.GetSpan(area, VirtioBlkRequestHeader.Size));
        _fe.Ram.Write<byte>(area + VirtioBlkRequestHeader.Size, 0xff);
        GuestSegment header = new(area, VirtioBlkRequestHeader.Size), status = new(area + VirtioBlkRequestHeader.Size, 1), buffer = new(data, length);
        AddResult added = type == 1 ? Driver.Add([header, buffer], [status], 7) : Driver.Add([header], [buffer, status], 7);
        Assert.Equal(AddResult.Added, added);
        Driver.Kick();
    }

    public void Dispose()
    {
        Kick.Dispose();
        Call.Dispose();
        Driver.Dispose();
    }
}
