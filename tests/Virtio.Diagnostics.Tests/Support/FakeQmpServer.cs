using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Virtio.Diagnostics.Tests.Support;

/// <summary>
/// A scripted QMP server on a real socket (Unix, or TCP on 127.0.0.1): sends QEMU 7.2's greeting, answers
/// <c>qmp_capabilities</c>, then each command from a script keyed by command and arguments
/// (<c>x-query-virtio-queue-status /machine/peripheral/net0/virtio-backend 1</c>), replies written as QEMU writes them
/// (CR LF, the id last). HMP <c>xp /Nhx ADDR</c> is answered from <see cref="Ram"/> in QEMU's memory_dump format.
/// </summary>
internal sealed class FakeQmpServer : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly string? _directory;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private readonly ConcurrentDictionary<string, Queue<string>> _script = new(StringComparer.Ordinal);
    private int _disposed;

    private FakeQmpServer(Socket listener, string endpoint, string? directory)
    {
        _listener = listener;
        Endpoint = endpoint;
        _directory = directory;
        _loop = Task.Run(ServeAsync);
    }

    public string Endpoint { get; }

    /// <summary>The greeting line (default: the one QEMU 7.2 sent here).</summary>
    public string Greeting { get; set; } = LiveReference.Line("greeting.json");

    /// <summary>Guest RAM for <c>xp</c>: address to halfword (absent reads as 0).</summary>
    public ConcurrentDictionary<ulong, ushort> Ram { get; } = new();

    /// <summary>Every command received, as its key, in order.</summary>
    public ConcurrentQueue<string> Received { get; } = new();

    /// <summary>Lines sent before each reply (events, say).</summary>
    public string? BeforeEachReply { get; set; }

    /// <summary>When set, replies to commands are never sent (the client must time out).</summary>
    public bool Silent { get; set; }

    /// <summary>Raw bytes sent instead of the reply to the next command.</summary>
    public byte[]? RawReply { get; set; }

    public static FakeQmpServer StartUnix()
    {
        string directory = Directory.CreateTempSubdirectory("qmp-").FullName;
        string path = Path.Combine(directory, "qmp.sock");
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen(4);
        return new FakeQmpServer(listener, path, directory);
    }

    public static FakeQmpServer StartTcp()
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(4);
        int port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        return new FakeQmpServer(listener, string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{port}"), null);
    }

    /// <summary>Scripts the replies (bare <c>{"return": ...}</c> or <c>{"error": ...}</c>) to a command; the last repeats.</summary>
    public void Script(string key, params string[] replies) => _script[key] = new Queue<string>(replies);

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync();
        _listener.Dispose();
        try
        {
            await _loop;
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }

        _stop.Dispose();
        if (_directory is not null)
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    private async Task ServeAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            using Socket client = await _listener.AcceptAsync(_stop.Token);
            try
            {
                await ServeClientAsync(client);
            }
            catch (SocketException)
            {
            }
        }
    }

    private async Task ServeClientAsync(Socket client)
    {
        await SendAsync(client, Greeting + "\r\n");
        var pending = new StringBuilder();
        var buffer = new byte[4096];
        while (true)
        {
            int read = await client.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
            if (read == 0)
            {
                return;
            }

            pending.Append(Encoding.UTF8.GetString(buffer, 0, read));
            string text = pending.ToString();
            int newline;
            while ((newline = text.IndexOf('\n', StringComparison.Ordinal)) >= 0)
            {
                string line = text[..newline];
                text = text[(newline + 1)..];
                await AnswerAsync(client, line);
            }

            pending.Clear().Append(text);
        }
    }

    private async Task AnswerAsync(Socket client, string line)
    {
        using JsonDocument request = JsonDocument.Parse(line);
        JsonElement root = request.RootElement;
        string command = root.GetProperty("execute").GetString()!;
        long id = root.GetProperty("id").GetInt64();
        root.TryGetProperty("arguments", out JsonElement args);
        string key = Key(command, args);
        Received.Enqueue(key);
        if (RawReply is { } raw)
        {
            RawReply = null;
            await client.SendAsync(raw, SocketFlags.None);
            return;
        }

        if (Silent)
        {
            return;
        }

        string reply = command switch
        {
            "qmp_capabilities" => "{\"return\": {}}",
            "human-monitor-command" when args.GetProperty("command-line").GetString()!.StartsWith("xp ", StringComparison.Ordinal) =>
                Xp(args.GetProperty("command-line").GetString()!),
            _ => Next(key),
        };
        if (BeforeEachReply is { } before)
        {
            await SendAsync(client, before + "\r\n");
        }

        string withId = string.Concat(reply.AsSpan(0, reply.LastIndexOf('}')), string.Create(CultureInfo.InvariantCulture, $", \"id\": {id}}}"));
        await SendAsync(client, withId + "\r\n");
    }

    private string Next(string key)
    {
        if (!_script.TryGetValue(key, out Queue<string>? replies))
        {
            return $"{{\"error\": {{\"class\": \"CommandNotFound\", \"desc\": \"not scripted: {key}\"}}}}";
        }

        lock (replies)
        {
            return replies.Count > 1 ? replies.Dequeue() : replies.Peek();
        }
    }

    // QEMU's memory_dump for "xp /Nhx ADDR": 16 bytes a line, "%016" PRIx64 ":" then " 0x%04x" per halfword, CR LF.
    private string Xp(string commandLine)
    {
        string[] parts = commandLine.Split(' ');
        int count = int.Parse(parts[1].AsSpan(1, parts[1].Length - 3), CultureInfo.InvariantCulture);
        ulong address = ulong.Parse(parts[2].AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
        var s = new StringBuilder();
        for (int i = 0; i < count; i++)
        {
            ulong at = address + (2 * (ulong)i);
            if (i % 8 == 0)
            {
                s.Append(CultureInfo.InvariantCulture, $"{(i == 0 ? "" : "\r\n")}{at:x16}:");
            }

            s.Append(CultureInfo.InvariantCulture, $" 0x{Ram.GetValueOrDefault(at):x4}");
        }

        s.Append("\r\n");
        return JsonSerializer.Serialize(new Dictionary<string, string> { ["return"] = s.ToString() });
    }

    private static string Key(string command, JsonElement args)
    {
        var key = new StringBuilder(command);
        if (args.ValueKind == JsonValueKind.Object)
        {
            foreach (string name in new[] { "path", "queue", "index", "command-line" })
            {
                if (args.TryGetProperty(name, out JsonElement v))
                {
                    key.Append(' ').Append(v.ValueKind == JsonValueKind.String ? v.GetString() : v.GetRawText());
                }
            }
        }

        return key.ToString();
    }

    private static Task<int> SendAsync(Socket client, string text) => client.SendAsync(Encoding.UTF8.GetBytes(text), SocketFlags.None);
}
