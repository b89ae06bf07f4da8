using System.Buffers.Binary;
using Virtio.VhostUser;

namespace Virtio.VhostUser.Tests;

/// <summary>GET_INFLIGHT_FD and SET_INFLIGHT_FD payloads from a hostile front-end.</summary>
public sealed class InflightRequestTests
{
    [Fact]
    public void Set_accepts_a_region_that_holds_every_queue()
    {
        Assert.Null(InflightRequest.TryParse(Payload(2 * 4160, 0, 2, 256), 1, set: true, maxQueues: 2, out InflightRequest request));
        Assert.Equal(new InflightRequest(2 * 4160, 0, 2, 256), request);
    }

    [Fact]
    public void Get_takes_no_fd_and_asks_no_size() =>
        Assert.Null(InflightRequest.TryParse(Payload(0, 0, 1, 128), 0, set: false, maxQueues: 1, out _));

    [Fact]
    public void A_short_payload_is_refused() =>
        Assert.Contains("payload of 16 bytes", InflightRequest.TryParse(new byte[16], 0, set: false, maxQueues: 1, out _), StringComparison.Ordinal);

    [Theory]
    [InlineData(true, 0)]
    [InlineData(true, 2)]
    [InlineData(false, 1)]
    public void A_missing_or_extra_fd_is_refused(bool set, int fds) =>
        Assert.Contains("file descriptors", InflightRequest.TryParse(Payload(4160, 0, 1, 256), fds, set, 1, out _), StringComparison.Ordinal);

    [Fact]
    public void A_region_too_small_for_the_queues_is_refused() =>
        Assert.Contains("smaller than the 8320 bytes", InflightRequest.TryParse(Payload(4160, 0, 2, 256), 1, set: true, maxQueues: 2, out _), StringComparison.Ordinal);

    [Theory]
    [InlineData(0, 256, "num_queues 0")]
    [InlineData(3, 256, "num_queues 3")]
    [InlineData(1, 0, "queue_size 0")]
    [InlineData(1, 100, "queue_size 100")]
    public void Queue_counts_and_sizes_out_of_range_are_refused(int queues, int size, string message) =>
        Assert.Contains(message, InflightRequest.TryParse(Payload(1 << 20, 0, queues, size), 0, set: false, maxQueues: 2, out _), StringComparison.Ordinal);

    [Theory]
    [InlineData(ulong.MaxValue - 100)]
    [InlineData(1)]
    public void An_offset_that_wraps_or_is_not_page_aligned_is_refused(ulong offset) =>
        Assert.Contains("mmap_offset", InflightRequest.TryParse(Payload(4160, offset, 1, 256), 1, set: true, maxQueues: 1, out _), StringComparison.Ordinal);

    /// <summary>A GET/SET_INFLIGHT_FD payload as QEMU lays it out (24 bytes with padding).</summary>
    internal static byte[] Payload(ulong size, ulong offset, int queues, int queueSize)
    {
        var payload = new byte[24];
        BinaryPrimitives.WriteUInt64LittleEndian(payload, size);
        BinaryPrimitives.WriteUInt64LittleEndian(payload.AsSpan(8), offset);
        BinaryPrimitives.WriteUInt16LittleEndian(payload.AsSpan(16), (ushort)queues);
        BinaryPrimitives.WriteUInt16LittleEndian(payload.AsSpan(18), (ushort)queueSize);
        return payload;
    }
}
