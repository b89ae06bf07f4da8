using Virtio.Devices.Block;

namespace Virtio.Devices.Tests.Support;

/// <summary>What reached storage, in order, as <see cref="RecordingImageFile"/> saw it.</summary>
internal enum LoggedKind
{
    /// <summary>A <c>pwrite</c> of <see cref="LoggedOp.Data"/>.</summary>
    Write,

    /// <summary>A successful <c>fallocate</c> that punched or zeroed the range (it reads as zeroes afterwards).</summary>
    Zero,

    /// <summary>An <c>fsync</c> started: writes logged before it are durable once it ends.</summary>
    FlushBegin,

    /// <summary>That <c>fsync</c> returned; <see cref="LoggedOp.Offset"/> is the index of its <see cref="FlushBegin"/>.</summary>
    FlushEnd,
}

/// <summary>One logged operation.</summary>
internal readonly record struct LoggedOp(LoggedKind Kind, long Offset, long Length, byte[]? Data);

/// <summary>
/// A layer between <see cref="FileBlockBackend"/> and its file that passes every operation through and logs each
/// write, hole and fsync reaching the file in order, as Linux's dm-log-writes logs bios: the input of
/// <see cref="CrashStateChecker"/>.
/// </summary>
internal sealed class RecordingImageFile(BlockImageFile inner) : BlockImageFile
{
    private readonly List<LoggedOp> _log = [];

    /// <summary>Operations logged so far (a position in the log).</summary>
    public int Count
    {
        get
        {
            lock (_log)
            {
                return _log.Count;
            }
        }
    }

    /// <summary>A copy of the log.</summary>
    public LoggedOp[] Snapshot()
    {
        lock (_log)
        {
            return [.. _log];
        }
    }

    public override long GetLength() => inner.GetLength();

    public override int Read(Span<byte> destination, long offset) => inner.Read(destination, offset);

    public override void Write(ReadOnlySpan<byte> source, long offset)
    {
        // Logged once the write returned, i.e. once the backend "has it" (dm-log-writes logs at bio completion).
        inner.Write(source, offset);
        Add(new LoggedOp(LoggedKind.Write, offset, source.Length, source.ToArray()));
    }

    public override void FlushToDisk()
    {
        int begin = Add(new LoggedOp(LoggedKind.FlushBegin, 0, 0, null));
        inner.FlushToDisk();
        Add(new LoggedOp(LoggedKind.FlushEnd, begin, 0, null));
    }

    public override int Allocate(int mode, long offset, long length)
    {
        int errno = inner.Allocate(mode, offset, length);
        if (errno == 0)
        {
            Add(new LoggedOp(LoggedKind.Zero, offset, length, null));
        }

        return errno;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }

        base.Dispose(disposing);
    }

    private int Add(LoggedOp op)
    {
        lock (_log)
        {
            _log.Add(op);
            return _log.Count - 1;
        }
    }
}
