using Virtio.Devices.Block;

namespace Virtio.Devices.Tests.Block;

public sealed class VirtioBlkRequestHeaderTests
{
    // type OUT, reserved 0x0a0b0c0d, sector 0x0102030405060708 (section 5.2.6: le32 type, le32 reserved, le64 sector).
    private static readonly byte[] Wire = [0x01, 0, 0, 0, 0x0d, 0x0c, 0x0b, 0x0a, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01];

    private static readonly VirtioBlkRequestHeader Parsed = new(VirtioBlkRequestType.Out, 0x0102030405060708) { Reserved = 0x0a0b0c0d };

    [Fact]
    public void Read_takes_every_field_little_endian_from_its_offset()
    {
        Assert.Equal(Parsed, VirtioBlkRequestHeader.Read(Wire));
        Assert.Equal(Parsed, VirtioBlkRequestHeader.Read([.. Wire, 0xFF])); // the data after the header is not read
    }

    [Fact]
    public void Write_puts_every_field_at_its_offset_and_touches_nothing_past_the_header()
    {
        byte[] buffer = Enumerable.Repeat((byte)0xEE, VirtioBlkRequestHeader.Size + 2).ToArray();
        Parsed.Write(buffer);
        Assert.Equal(Wire, buffer[..VirtioBlkRequestHeader.Size]);
        Assert.Equal([0xEE, 0xEE], buffer[VirtioBlkRequestHeader.Size..]);
        Assert.Equal(Wire, Parsed.ToArray());
    }

    [Fact]
    public void Spans_shorter_than_the_header_are_refused()
    {
        Assert.Throws<ArgumentException>(() => VirtioBlkRequestHeader.Read(new byte[VirtioBlkRequestHeader.Size - 1]));
        Assert.Throws<ArgumentException>(() => Parsed.Write(new byte[VirtioBlkRequestHeader.Size - 1]));
    }
}
