using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Numerics;

namespace Virtio.Cli.CommandLine;

/// <summary>
/// Options whose values are checked while parsing, with messages that name the option, the value and the rule in
/// words a user knows (never a .NET type name): <c>--ring-size abc: not a whole number</c>.
/// </summary>
internal static class CliOption
{
    /// <summary>
    /// The smallest ring <c>repro</c> and <c>bench ring</c> take. The spec allows a one-entry queue, but the hang
    /// scenarios keep one entry for the request that races the fault, so they need two; <c>bench ring</c> uses the
    /// same floor so that one ring size works with both commands.
    /// </summary>
    public const int MinRingSize = Virtio.Scenarios.ReproRunner.MinRingSize;

    /// <summary>The largest queue size (VIRTIO 1.x section 2.7: 32768).</summary>
    public const int MaxRingSize = Virtio.Rings.SplitRing.MaxQueueSize;

    public static Option<T> WholeNumber<T>(string name, string description, T defaultValue, T min, T max)
        where T : struct, IBinaryInteger<T> =>
        new(name)
        {
            Description = description,
            DefaultValueFactory = _ => defaultValue,
            CustomParser = r => T.CreateChecked(ParseWhole(r, long.CreateChecked(min), long.CreateChecked(max))),
        };

    // Null when not given.
    public static Option<int?> OptionalWholeNumber(string name, string description, int min, int max) =>
        new(name)
        {
            Description = description,
            CustomParser = r => (int)ParseWhole(r, min, max),
        };

    // A decimal number (0.5); with minExclusive the value must be above min.
    public static Option<double> Seconds(string name, string description, double defaultValue, double min, double max, bool minExclusive = false) =>
        new(name)
        {
            Description = description,
            DefaultValueFactory = _ => defaultValue,
            CustomParser = r => ParseNumber(r, NumberStyles.AllowDecimalPoint, min, max, minExclusive, "number of seconds", " seconds", defaultValue),
        };

    public static Option<int> RingSize(string description, int defaultValue) =>
        new("--ring-size")
        {
            Description = description,
            DefaultValueFactory = _ => defaultValue,
            CustomParser = r => (int)ParseWhole(r, MinRingSize, MaxRingSize) is var size && (r.Errors.Any() || BitOperations.IsPow2(size))
                ? size : Refuse(r, $"--ring-size {size}: must be a power of two from {MinRingSize} to {MaxRingSize}", 0),
        };

    /// <summary>
    /// <c>true</c> or <c>false</c>, always given as a value (<c>--event-idx false</c>); absent, it is
    /// <paramref name="defaultValue"/> (null: not given). Read it with <see cref="GetBoolean"/>. The option holds
    /// text because the parser never hands an option typed <c>bool</c> (or <c>bool?</c>) a word that is not a
    /// boolean: <c>--event-idx maybe</c> would be reported as an unknown argument, or taken as a scenario name.
    /// </summary>
    public static Option<string?> Bool(string name, string description, bool? defaultValue) =>
        new(name)
        {
            Description = description,
            DefaultValueFactory = _ => Text(defaultValue),
            Arity = ArgumentArity.ExactlyOne,
            CustomParser = r => bool.TryParse(Token(r), out bool value) ? Text(value) : Refuse<string?>(r, $"{OptionName(r)} {Token(r)}: must be true or false", null),
        };

    // Null when neither given nor defaulted.
    public static bool? GetBoolean(this ParseResult parse, Option<string?> option) =>
        bool.TryParse(parse?.GetValue(option), out bool value) ? value : null;

    // The option's text for a value: "true", "false", or null.
    private static string? Text(bool? value) => value is { } v ? (v ? "true" : "false") : null;

    public static Option<string> Choice(string name, string description, string defaultValue, params string[] choices) =>
        new(name)
        {
            Description = $"{description} ({string.Join(", ", choices)})",
            DefaultValueFactory = _ => defaultValue,
            CustomParser = r => ParseChoice(r, OptionName(r), choices),
        };

    // what names the argument in errors.
    public static Argument<string?> ChoiceArgument(string name, string what, string description, params string[] choices) =>
        new(name)
        {
            Description = description,
            Arity = ArgumentArity.ZeroOrOne,
            CustomParser = r => r.Tokens.Count == 0 ? null : ParseChoice(r, what, choices),
        };

    public static Option<FileInfo> InputFile(string name, string description) =>
        PathOption(name, description, path =>
            Directory.Exists(path) ? $"{name} {path}: is a directory; give the file"
            : !File.Exists(path) ? $"{name} {path}: no such file"
            : null,
            path => new FileInfo(path));

    // A file to create or overwrite: its directory must exist.
    public static Option<string?> OutputFile(string name, string description) =>
        PathOption<string?>(name, description, path =>
            Directory.Exists(path) ? $"{name} {path}: is a directory; give a file name"
            : Path.GetDirectoryName(Path.GetFullPath(path)) is { } parent && !Directory.Exists(parent) ? $"{name} {path}: the directory {parent} does not exist"
            : null,
            path => path);

    // A directory to write into, created if missing.
    public static Option<DirectoryInfo?> OutputDirectory(string name, string description) =>
        PathOption<DirectoryInfo?>(name, description, path =>
            File.Exists(path) ? $"{name} {path}: is a file; give a directory (it is created if missing)" : null,
            path => new DirectoryInfo(path));

    // check returns why the path will not do, or null.
    private static Option<T> PathOption<T>(string name, string description, Func<string, string?> check, Func<string, T> make) =>
        new(name)
        {
            Description = description,
            CustomParser = r => (Token(r) is var path && path.Length == 0 ? $"{name}: the path is empty" : check(path)) is { } error
                ? Refuse<T>(r, error, default!) : make(path),
        };

    // As the user wrote it (an alias if they used one).
    private static string OptionName(ArgumentResult r) =>
        r.Parent is OptionResult o ? (o.IdentifierToken?.Value ?? o.Option.Name) : r.Argument.Name;

    private static long ParseWhole(ArgumentResult r, long min, long max) =>
        ParseNumber(r, NumberStyles.AllowLeadingSign, min, max, minExclusive: false, "whole number", string.Empty, min);

    // A number in the option's range, or fallback after an error naming the option, the text and the range.
    private static T ParseNumber<T>(ArgumentResult r, NumberStyles style, T min, T max, bool minExclusive, string noun, string unit, T fallback)
        where T : struct, INumber<T>
    {
        string name = OptionName(r), text = Token(r);
        string range = minExclusive ? $"above {min} up to {max}" : $"from {min} to {max}";
        return !T.TryParse(text, style, CultureInfo.InvariantCulture, out T value) ? Refuse(r, $"{name} {text}: not a {noun} ({range})", fallback)
            : value > max || value < min || (minExclusive && value == min) ? Refuse(r, $"{name} {text}: must be {range}{unit}", fallback)
            : value;
    }

    // Records the error against the value and returns fallback for the parser to hold.
    internal static T Refuse<T>(ArgumentResult r, string error, T fallback)
    {
        r.AddError(error);
        return fallback;
    }

    internal static string Token(ArgumentResult r) => r.Tokens.Count == 0 ? string.Empty : r.Tokens[0].Value;

    private static string ParseChoice(ArgumentResult r, string what, string[] choices) =>
        Array.IndexOf(choices, Token(r)) >= 0 ? Token(r) : Refuse(r, $"{what} {Token(r)}: must be one of {string.Join(", ", choices)}", choices[0]);
}
