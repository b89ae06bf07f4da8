using CsCheck;
using Virtio.Devices.Block;
using Virtio.Devices.Tests.Support;

namespace Virtio.Devices.Tests.Block;

/// <summary>
/// Well-formed requests with any header: the device answers each with one status byte (OK, IOERR or UNSUPP), stays
/// live, and a read or write succeeds exactly when it is whole sectors on the disk.
/// </summary>
public class BlockDeviceProperties
{
    private const ulong CapacitySectors = 2048;

    [Fact]
    public void Every_request_gets_one_status_and_reads_and_writes_succeed_exactly_on_the_disk()
    {
        BlkGen.Request(CapacitySectors).Array[1, 8].Sample(requests =>
        {
            using var rig = new BlkRig(new MemoryBlockBackend(CapacitySectors * 512));
            foreach (BlkRequestShape r in requests)
            {
                int token = r.Type switch
                {
                    VirtioBlkRequestType.In => rig.SendRead(r.Sector, r.DataBytes, r.Segments),
                    VirtioBlkRequestType.Out => rig.SendWrite(r.Sector, new byte[r.DataBytes], r.Segments),
                    _ => rig.Send([rig.Buffer(16, BlkRig.Header(r.Type, r.Sector)), rig.Buffer(r.DataBytes)], [rig.Buffer(1)]),
                };
                byte status = rig.Run(token).Status;

                Assert.InRange(status, (byte)0, (byte)2);
                Assert.Null(rig.Device.BrokenReason);
                if (r.Type is VirtioBlkRequestType.In or VirtioBlkRequestType.Out)
                {
                    bool onDisk = r.DataBytes % 512 == 0 && r.Sector <= CapacitySectors && (ulong)(r.DataBytes / 512) <= CapacitySectors - r.Sector;
                    Assert.Equal(onDisk ? 0 : 1, status);
                }
            }
        }, iter: 200, threads: 1);
    }
}
