using CsCheck;
using Virtio.Devices.Net;

namespace Virtio.Devices.Tests.Support;

/// <summary>What a guest does next on a virtio-net device, for <see cref="NetGen.Step"/>.</summary>
internal enum NetStepKind
{
    /// <summary>Posts one rx buffer of <see cref="NetStep.Bytes"/> bytes in <see cref="NetStep.Segments"/> pieces.</summary>
    PostRx,

    /// <summary>Sends a frame of <see cref="NetStep.Bytes"/> bytes behind <see cref="NetStep.Header"/>.</summary>
    Send,

    /// <summary>Takes every frame the device has placed.</summary>
    Receive,
}

/// <summary>One guest step; the fields a kind does not use stay 0.</summary>
internal readonly record struct NetStep(NetStepKind Kind, int Bytes, int Segments, VirtioNetHeader Header, TxLayout Layout)
{
    public override string ToString() => Kind switch
    {
        NetStepKind.PostRx => $"PostRx({Bytes} B in {Segments})",
        NetStepKind.Send => $"Send({Bytes} B in {Segments}, {Layout}, {Header})",
        _ => "Receive",
    };
}

/// <summary>
/// CsCheck generators for virtio-net guests: frames from runts to oversize, headers from default to random, rx
/// buffers of every size (some smaller than the header). Built from CsCheck's draws, so a failing guest shrinks to
/// a short one with default headers and plain layouts, and prints.
/// </summary>
internal static class NetGen
{
    /// <summary>Frame lengths that matter: runts, the Ethernet minimum, MTU-sized, jumbo, the device's limit and one past it.</summary>
    public static readonly Gen<int> FrameLength = Gen.OneOfConst(60, 1, 13, 14, 64, 1514, 1524, 1525, 3000, 9000, VirtioNetDevice.MaxFrameLength, VirtioNetDevice.MaxFrameLength + 1);

    /// <summary>rx buffer sizes; one in 25 is smaller than the header.</summary>
    public static readonly Gen<int> RxBytes = Gen.Frequency(
        (24, Gen.OneOfConst(1536, 12, 13, 76, 100, 3000, 9100)),
        (1, Gen.Int[1, VirtioNetHeader.Size - 1]));

    /// <summary>Any <c>virtio_net_hdr_v1</c> a guest may write (with small gso_size and offsets, so some are plausible).</summary>
    public static readonly Gen<VirtioNetHeader> RandomHeader = Gen.Select(
        Gen.Byte, Gen.Byte, Gen.UShort, Gen.Int[0, 2], Gen.Int[0, 99], Gen.Int[0, 19], Gen.UShort,
        (flags, gso, hdrLen, gsoSize, start, offset, buffers) => new VirtioNetHeader
        {
            Flags = (NetHeaderFlags)flags,
            GsoType = (NetGsoType)gso,
            HeaderLength = hdrLen,
            GsoSize = (ushort)gsoSize,
            ChecksumStart = (ushort)start,
            ChecksumOffset = (ushort)offset,
            BufferCount = buffers,
        });

    /// <summary>Two headers in three are the default one.</summary>
    public static readonly Gen<VirtioNetHeader> Header = Gen.Frequency((2, Gen.Const(default(VirtioNetHeader))), (1, RandomHeader));

    /// <summary>A guest step, each kind equally likely.</summary>
    public static readonly Gen<NetStep> Step = Gen.OneOf(
        Gen.Select(RxBytes, Gen.Int[1, 3], (bytes, segments) => new NetStep(NetStepKind.PostRx, bytes, segments, default, default)),
        Gen.Select(FrameLength, Header, Gen.Enum<TxLayout>(), Gen.Int[1, 3], (length, header, layout, segments) => new NetStep(NetStepKind.Send, length, segments, header, layout)),
        Gen.Const(new NetStep(NetStepKind.Receive, 0, 0, default, default)));
}
