using System.Globalization;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Virtio.Devices.Net;

namespace Virtio.VhostUser.Net;

/// <summary>
/// A network backend as <c>--backend</c> spells it: <c>loopback</c>, <c>stream:SOCKET</c> (connect to a QEMU
/// <c>-netdev stream,server=on</c> Unix socket), <c>stream-listen:SOCKET</c> (listen for one <c>server=off</c>
/// peer), <c>discard</c> or <c>generator[:FRAME-SIZE]</c>.
/// </summary>
public sealed class NetBackendSpec
{
    private NetBackendSpec(NetBackendKind kind, string? path, int frameSize)
    {
        Kind = kind;
        Path = path;
        FrameSize = frameSize;
    }

    /// <summary>The loopback backend, <c>--backend</c>'s default.</summary>
    public static NetBackendSpec Loopback { get; } = new(NetBackendKind.Loopback, null, 0);

    /// <summary>Which backend.</summary>
    public NetBackendKind Kind { get; }

    /// <summary>The Unix socket of the stream backends; null otherwise.</summary>
    public string? Path { get; }

    /// <summary>The generator's frame size.</summary>
    public int FrameSize { get; }

    /// <summary>Parses the text of <c>--backend</c>.</summary>
    /// <returns>Null, with <paramref name="spec"/> set, or why the text is not a backend.</returns>
    public static string? TryParse(string text, out NetBackendSpec? spec)
    {
        ArgumentNullException.ThrowIfNull(text);
        spec = null;
        int colon = text.IndexOf(':', StringComparison.Ordinal);
        string name = colon < 0 ? text : text[..colon];
        string? argument = colon < 0 ? null : text[(colon + 1)..];
        switch (name)
        {
            case "loopback" or "discard" when argument is null:
                spec = new NetBackendSpec(name == "loopback" ? NetBackendKind.Loopback : NetBackendKind.Discard, null, 0);
                return null;
            case "stream" or "stream-listen" when !string.IsNullOrEmpty(argument):
                spec = new NetBackendSpec(name == "stream" ? NetBackendKind.Stream : NetBackendKind.StreamListen, argument, 0);
                return null;
            case "generator":
                int size = GeneratorNetBackend.DefaultFrameSize;
                if (argument is not null && (!int.TryParse(argument, NumberStyles.None, CultureInfo.InvariantCulture, out size)
                    || size < VirtioNetDevice.MinFrameLength || size > VirtioNetDevice.MaxFrameLength))
                {
                    return $"generator:{argument}: the frame size is a number of bytes from {VirtioNetDevice.MinFrameLength} to {VirtioNetDevice.MaxFrameLength}";
                }

                spec = new NetBackendSpec(NetBackendKind.Generator, null, size);
                return null;
            default:
                return $"{text}: must be loopback, stream:SOCKET, stream-listen:SOCKET, discard or generator[:FRAME-SIZE]";
        }
    }

    /// <summary>
    /// Creates the backend. The stream kinds connect, or listen and wait for one peer (a stale socket at the path is
    /// replaced; anything else there is an error), before returning.
    /// </summary>
    /// <param name="queuePairs">The device's queue pairs.</param>
    /// <param name="logger">For the stream backend's errors.</param>
    /// <param name="cancellationToken">Stops waiting for a peer.</param>
    /// <exception cref="IOException">The socket cannot be connected or listened on.</exception>
    /// <exception cref="OperationCanceledException">Cancelled while waiting for a peer.</exception>
    public INetBackend Create(int queuePairs, ILogger? logger = null, CancellationToken cancellationToken = default)
    {
        switch (Kind)
        {
            case NetBackendKind.Loopback:
                return new LoopbackNetBackend();
            case NetBackendKind.Discard:
                return new DiscardNetBackend(queuePairs);
            case NetBackendKind.Generator:
                return new GeneratorNetBackend(FrameSize, queuePairs);
            default:
                StreamNetBackend stream = StreamNetBackend.FromSocket(Kind == NetBackendKind.Stream ? Connect(Path!) : AcceptOne(Path!, cancellationToken), logger);
                stream.QueuePairs = queuePairs;
                return stream;
        }
    }

    /// <inheritdoc/>
    public override string ToString() => Kind switch
    {
        NetBackendKind.Loopback => "loopback",
        NetBackendKind.Discard => "discard",
        NetBackendKind.Generator => "generator:" + FrameSize.ToString(CultureInfo.InvariantCulture),
        NetBackendKind.Stream => "stream:" + Path,
        _ => "stream-listen:" + Path,
    };

    private static Socket Connect(string path)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Connect(new UnixDomainSocketEndPoint(path));
            return socket;
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new IOException($"stream:{path}: {e.Message}", e);
        }
    }

    private static Socket AcceptOne(string path, CancellationToken cancellationToken)
    {
        if (UnixSocketPath.PrepareToListen("stream-listen:", path) is { } refusal)
        {
            throw new IOException(refusal); // a live socket, a directory or a file: never removed
        }

        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            listener.Bind(new UnixDomainSocketEndPoint(path));
            listener.Listen(1);
            return listener.AcceptAsync(cancellationToken).AsTask().GetAwaiter().GetResult();
        }
        catch (SocketException e)
        {
            throw new IOException($"stream-listen:{path}: {e.Message}", e);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
