namespace Virtio.Diagnostics;

/// <summary>What is wrong with input given to the offline analysis (a RAM dump or a saved QMP reply).</summary>
public enum DiagnosticInputErrorKind
{
    /// <summary>A file could not be opened or read.</summary>
    FileUnreadable = 1,

    /// <summary>The text is not JSON, or a value has the wrong JSON type or is out of its QAPI range.</summary>
    MalformedJson,

    /// <summary>A field the analysis needs is absent.</summary>
    MissingField,

    /// <summary>The file holds a QMP error reply (<c>{"error": {...}}</c>) instead of a result.</summary>
    QmpError,

    /// <summary><c>vring-num</c> is 0, above 32768 or not a power of two.</summary>
    InvalidQueueSize,

    /// <summary>The RAM dump is empty, or ends inside a ring area.</summary>
    DumpTruncated,

    /// <summary>A ring area lies outside the RAM dump (below <c>--ram-base</c> or past its end).</summary>
    RingOutsideDump,

    /// <summary>An option is out of range or contradicts another.</summary>
    InvalidOption,
}
