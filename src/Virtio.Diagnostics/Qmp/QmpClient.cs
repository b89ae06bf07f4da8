using System.Buffers;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.Extensions.Logging;

namespace Virtio.Diagnostics.Qmp;

/// <summary>
/// A client of QEMU's QMP monitor (docs/interop/qmp-spec): connects to a Unix socket or <c>host:port</c>, reads the
/// greeting, negotiates capabilities, then runs one command at a time. Replies are matched by <c>id</c>;
/// asynchronous events in between are skipped. QEMU's error replies become <see cref="QmpException"/>s with QEMU's own
/// text; anything that is not QMP is a <see cref="QmpErrorKind.ProtocolError"/>, never a guess.
/// </summary>
public sealed partial class QmpClient : IAsyncDisposable, IDisposable
{
    private static readonly JsonDocumentOptions DocumentOptions = new() { MaxDepth = 64 };

    private readonly Socket _socket;
    private readonly QmpClientOptions _options;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private byte[] _buffer = new byte[16 * 1024];
    private int _start;
    private int _end;
    private long _nextId;
    private int _disposed;

    private QmpClient(Socket socket, string endpoint, QmpClientOptions options)
    {
        _socket = socket;
        _options = options;
        _logger = options.Logger;
        Endpoint = endpoint;
    }

    /// <summary>The endpoint connected to, as given.</summary>
    public string Endpoint { get; }

    /// <summary>QEMU's version from the greeting.</summary>
    public QemuVersion Version { get; private set; } = new(0, 0, 0, "");

    /// <summary>
    /// Connects, reads the greeting and runs <c>qmp_capabilities</c>. <paramref name="endpoint"/> is a Unix socket
    /// path (optionally <c>unix:</c>-prefixed) or <c>host:port</c> for TCP (<c>[::1]:4444</c> for IPv6).
    /// </summary>
    /// <exception cref="QmpException">The socket cannot be reached or QEMU does not speak QMP.</exception>
    public static async Task<QmpClient> ConnectAsync(string endpoint, QmpClientOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(endpoint);
        options ??= new QmpClientOptions();
        EndPoint remote = ParseEndpoint(endpoint);
        Socket socket = remote is UnixDomainSocketEndPoint
            ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
            : new Socket(SocketType.Stream, ProtocolType.Tcp);
        var client = new QmpClient(socket, endpoint, options);
        try
        {
            using (CancellationTokenSource timeout = client.StartTimeout(cancellationToken))
            {
                try
                {
                    await socket.ConnectAsync(remote, timeout.Token).ConfigureAwait(false);
                }
                catch (SocketException e)
                {
                    throw new QmpException(QmpErrorKind.ConnectFailed, $"cannot connect to QMP at {endpoint}: {ConnectFailure(remote, endpoint, e)}", e);
                }
                catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
                {
                    throw new QmpException(QmpErrorKind.Timeout, $"cannot connect to QMP at {endpoint}: no connection within {options.CommandTimeout.TotalSeconds:0.#} s", e);
                }

                using JsonDocument greeting = await client.ReadMessageAsync("the greeting", timeout.Token, cancellationToken).ConfigureAwait(false);
                client.Version = ParseGreeting(greeting.RootElement);
            }

            await client.ExecuteAsync("qmp_capabilities", cancellationToken).ConfigureAwait(false);
            QmpLog.Connected(client._logger, endpoint, client.Version);
            return client;
        }
        catch
        {
            await client.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    // The socket error alone misleads for a Unix path: a missing one reads "Cannot assign requested address", a
    // regular file "Connection refused". Say what the path is.
    private static string ConnectFailure(EndPoint remote, string endpoint, SocketException e) =>
        remote is not UnixDomainSocketEndPoint ? e.Message
        : Directory.Exists(endpoint) ? "it is a directory, not a socket"
        : !File.Exists(endpoint) ? "no such socket (is QEMU running with -qmp unix:PATH,server=on?)"
        : e.SocketErrorCode == SocketError.ConnectionRefused ? "nobody listens there (not a socket, or a stale one QEMU no longer serves)"
        : e.Message;

    /// <summary>Runs a command without arguments and returns its <c>return</c> value.</summary>
    /// <exception cref="QmpException">QEMU answered with an error, or not at all, or not in QMP.</exception>
    public Task<JsonElement> ExecuteAsync(string command, CancellationToken cancellationToken = default) =>
        ExecuteCoreAsync<object>(command, default, null, cancellationToken);

    /// <summary>Runs a command with arguments (serialized with <paramref name="argumentsType"/>) and returns its <c>return</c> value.</summary>
    /// <exception cref="QmpException">QEMU answered with an error, or not at all, or not in QMP.</exception>
    public Task<JsonElement> ExecuteAsync<TArguments>(string command, TArguments arguments, JsonTypeInfo<TArguments> argumentsType, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(argumentsType);
        return ExecuteCoreAsync(command, arguments, argumentsType, cancellationToken);
    }

    /// <summary>Runs an HMP command through <c>human-monitor-command</c> and returns its output as QEMU prints it (CR LF line ends).</summary>
    /// <exception cref="QmpException">QEMU answered with an error, or not at all, or not in QMP.</exception>
    public async Task<string> HumanMonitorCommandAsync(string commandLine, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(commandLine);
        JsonElement output = await ExecuteAsync("human-monitor-command", new HmpArguments(commandLine), QmpJsonContext.Default.HmpArguments, cancellationToken).ConfigureAwait(false);
        return output.ValueKind == JsonValueKind.String
            ? output.GetString()!
            : throw new QmpException(QmpErrorKind.ProtocolError, $"human-monitor-command \"{commandLine}\": expected a string, QEMU returned {Excerpt(output.GetRawText())}") { Command = "human-monitor-command" };
    }

    /// <summary>The names <c>query-commands</c> lists.</summary>
    /// <exception cref="QmpException">QEMU answered with an error, or not at all, or not in QMP.</exception>
    public async Task<IReadOnlySet<string>> QueryCommandsAsync(CancellationToken cancellationToken = default)
    {
        List<QmpCommandInfo> commands = await ExecuteAsync("query-commands", QmpJsonContext.Default.ListQmpCommandInfo, cancellationToken).ConfigureAwait(false);
        return commands.Select(c => c.Name).ToHashSet(StringComparer.Ordinal);
    }

    /// <summary>Checks with <c>query-commands</c> that every command in <paramref name="names"/> exists.</summary>
    /// <exception cref="QmpException"><see cref="QmpErrorKind.MissingCommand"/>, naming each missing command.</exception>
    public async Task RequireCommandsAsync(IEnumerable<string> names, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(names);
        IReadOnlySet<string> available = await QueryCommandsAsync(cancellationToken).ConfigureAwait(false);
        string[] missing = names.Where(n => !available.Contains(n)).ToArray();
        if (missing.Length > 0)
        {
            throw new QmpException(QmpErrorKind.MissingCommand, string.Create(CultureInfo.InvariantCulture,
                $"QEMU {Version} at {Endpoint} lacks {string.Join(", ", missing)} (query-commands does not list {(missing.Length == 1 ? "it" : "them")}; the x-query-virtio* commands are experimental: QEMU 7.2 has them, older QEMUs do not, later ones may rename them)"))
            {
                Command = missing[0],
            };
        }
    }

    /// <summary>Runs a command and deserializes its <c>return</c> value with <paramref name="resultType"/>.</summary>
    internal async Task<TResult> ExecuteAsync<TResult>(string command, JsonTypeInfo<TResult> resultType, CancellationToken cancellationToken) =>
        Convert(command, await ExecuteAsync(command, cancellationToken).ConfigureAwait(false), resultType);

    /// <summary>Runs a command with arguments and deserializes its <c>return</c> value with <paramref name="resultType"/>.</summary>
    internal async Task<TResult> ExecuteAsync<TArguments, TResult>(string command, TArguments arguments, JsonTypeInfo<TArguments> argumentsType, JsonTypeInfo<TResult> resultType, CancellationToken cancellationToken) =>
        Convert(command, await ExecuteAsync(command, arguments, argumentsType, cancellationToken).ConfigureAwait(false), resultType);

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _gate.WaitAsync().ConfigureAwait(false);
        _socket.Dispose();
        _gate.Release();
        _gate.Dispose();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _socket.Dispose();
        _gate.Dispose();
    }

    private static TResult Convert<TResult>(string command, JsonElement value, JsonTypeInfo<TResult> resultType)
    {
        try
        {
            return value.Deserialize(resultType)
                ?? throw new QmpException(QmpErrorKind.ProtocolError, $"{command}: QEMU returned null") { Command = command };
        }
        catch (JsonException e)
        {
            throw new QmpException(QmpErrorKind.ProtocolError, $"{command}: unexpected reply ({e.Message}): {Excerpt(value.GetRawText())}", e) { Command = command };
        }
    }

    private async Task<JsonElement> ExecuteCoreAsync<TArguments>(string command, TArguments? arguments, JsonTypeInfo<TArguments>? argumentsType, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(command);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            long id = ++_nextId;
            var request = new ArrayBufferWriter<byte>(256);
            using (var writer = new Utf8JsonWriter(request))
            {
                writer.WriteStartObject();
                writer.WriteString("execute", command);
                if (argumentsType is not null)
                {
                    writer.WritePropertyName("arguments");
                    JsonSerializer.Serialize(writer, arguments!, argumentsType);
                }

                writer.WriteNumber("id", id);
                writer.WriteEndObject();
            }

            request.Write("\n"u8);
            using CancellationTokenSource timeout = StartTimeout(cancellationToken);
            QmpLog.CommandSent(_logger, command, id);
            try
            {
                await _socket.SendAsync(request.WrittenMemory, SocketFlags.None, timeout.Token).ConfigureAwait(false);
            }
            catch (SocketException e)
            {
                throw new QmpException(QmpErrorKind.Disconnected, $"{command}: QMP connection to {Endpoint} lost: {e.Message}", e) { Command = command };
            }
            catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
            {
                throw TimedOut(command, e);
            }

            while (true)
            {
                using JsonDocument reply = await ReadMessageAsync(command, timeout.Token, cancellationToken).ConfigureAwait(false);
                JsonElement root = reply.RootElement;
                if (root.ValueKind != JsonValueKind.Object)
                {
                    throw new QmpException(QmpErrorKind.ProtocolError, $"{command}: expected a JSON object from QEMU, got {Excerpt(root.GetRawText())}") { Command = command };
                }

                if (root.TryGetProperty("event", out JsonElement ev))
                {
                    QmpLog.EventIgnored(_logger, ev);
                    continue;
                }

                if (!root.TryGetProperty("id", out JsonElement replyId) || replyId.ValueKind != JsonValueKind.Number
                    || !replyId.TryGetInt64(out long got) || got != id)
                {
                    throw new QmpException(QmpErrorKind.ProtocolError, $"{command}: the reply does not carry this command's id {id}: {Excerpt(root.GetRawText())}") { Command = command };
                }

                if (root.TryGetProperty("return", out JsonElement value))
                {
                    return value.Clone();
                }

                if (root.TryGetProperty("error", out JsonElement error))
                {
                    string errorClass = error.ValueKind == JsonValueKind.Object && error.TryGetProperty("class", out JsonElement c) ? c.ToString() : "unknown";
                    string desc = error.ValueKind == JsonValueKind.Object && error.TryGetProperty("desc", out JsonElement d) ? d.ToString() : error.GetRawText();
                    QmpLog.CommandFailed(_logger, command, errorClass, desc);
                    throw new QmpException(QmpErrorKind.CommandFailed, $"{command}: QEMU: {desc}")
                    {
                        Command = command,
                        ErrorClass = errorClass,
                        QemuDescription = desc,
                    };
                }

                throw new QmpException(QmpErrorKind.ProtocolError, $"{command}: a reply with neither \"return\" nor \"error\": {Excerpt(root.GetRawText())}") { Command = command };
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    private CancellationTokenSource StartTimeout(CancellationToken cancellationToken)
    {
        CancellationTokenSource timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.CommandTimeout);
        return timeout;
    }

    private QmpException TimedOut(string what, Exception inner) =>
        new(QmpErrorKind.Timeout, $"{what}: QEMU at {Endpoint} did not answer within {_options.CommandTimeout.TotalSeconds:0.#} s", inner) { Command = what };

    // QMP sends one JSON object per line (CR LF); a line is bounded by MaxMessageBytes.
    private async Task<JsonDocument> ReadMessageAsync(string what, CancellationToken timeout, CancellationToken cancellationToken)
    {
        while (true)
        {
            int newline = _buffer.AsSpan(_start, _end - _start).IndexOf((byte)'\n');
            if (newline >= _options.MaxMessageBytes || (newline < 0 && _end - _start >= _options.MaxMessageBytes))
            {
                throw new QmpException(QmpErrorKind.ProtocolError, $"{what}: a message from {Endpoint} longer than {_options.MaxMessageBytes} bytes") { Command = what };
            }

            if (newline >= 0)
            {
                ReadOnlyMemory<byte> line = _buffer.AsMemory(_start, newline);
                _start += newline + 1;
                if (line.Span.Trim("\r "u8).IsEmpty)
                {
                    continue;
                }

                try
                {
                    return JsonDocument.Parse(line, DocumentOptions);
                }
                catch (JsonException e)
                {
                    throw new QmpException(QmpErrorKind.ProtocolError, $"{what}: not JSON from {Endpoint}: {Excerpt(Encoding.UTF8.GetString(line.Span))}", e) { Command = what };
                }
            }

            if (_start > 0)
            {
                _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
                _end -= _start;
                _start = 0;
            }

            if (_end == _buffer.Length)
            {
                Array.Resize(ref _buffer, Math.Min(_buffer.Length * 2, _options.MaxMessageBytes));
            }

            int read;
            try
            {
                read = await _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, timeout).ConfigureAwait(false);
            }
            catch (SocketException e)
            {
                throw new QmpException(QmpErrorKind.Disconnected, $"{what}: QMP connection to {Endpoint} lost: {e.Message}", e) { Command = what };
            }
            catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
            {
                throw TimedOut(what, e);
            }

            if (read == 0)
            {
                throw new QmpException(QmpErrorKind.Disconnected, $"{what}: QEMU closed the QMP connection at {Endpoint}") { Command = what };
            }

            _end += read;
        }
    }

    private static QemuVersion ParseGreeting(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("QMP", out JsonElement qmp) || qmp.ValueKind != JsonValueKind.Object)
        {
            throw new QmpException(QmpErrorKind.ProtocolError, $"expected the QMP greeting {{\"QMP\": ...}}, got {Excerpt(root.GetRawText())}");
        }

        if (qmp.TryGetProperty("version", out JsonElement version) && version.ValueKind == JsonValueKind.Object
            && version.TryGetProperty("qemu", out JsonElement qemu) && qemu.ValueKind == JsonValueKind.Object)
        {
            string package = version.TryGetProperty("package", out JsonElement p) && p.ValueKind == JsonValueKind.String ? p.GetString()!.Trim() : "";
            return new QemuVersion(Number(qemu, "major"), Number(qemu, "minor"), Number(qemu, "micro"), package);
        }

        return new QemuVersion(0, 0, 0, "");

        static int Number(JsonElement e, string name) =>
            e.TryGetProperty(name, out JsonElement n) && n.ValueKind == JsonValueKind.Number && n.TryGetInt32(out int v) ? v : 0;
    }

    // A path (anything with a '/', or without a port) is a Unix socket, as QEMU's -qmp unix:PATH; host:port is TCP.
    internal static EndPoint ParseEndpoint(string endpoint)
    {
        if (endpoint.StartsWith("unix:", StringComparison.Ordinal))
        {
            return new UnixDomainSocketEndPoint(endpoint[5..]);
        }

        int colon = endpoint.LastIndexOf(':');
        if (endpoint.Contains('/', StringComparison.Ordinal) || colon <= 0)
        {
            return new UnixDomainSocketEndPoint(endpoint);
        }

        string host = endpoint[..colon].Trim('[', ']');
        if (!ushort.TryParse(endpoint.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out ushort port) || port == 0)
        {
            throw new QmpException(QmpErrorKind.ConnectFailed, $"QMP endpoint {endpoint}: the port is not a number from 1 to 65535 (give host:port, or a Unix socket path)");
        }

        return IPAddress.TryParse(host, out IPAddress? address) ? new IPEndPoint(address, port) : new DnsEndPoint(host, port);
    }

    private static string Excerpt(string text) => text.Length <= 200 ? text : string.Concat(text.AsSpan(0, 200), "...");
}
