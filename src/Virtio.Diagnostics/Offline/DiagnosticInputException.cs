namespace Virtio.Diagnostics;

/// <summary>Input to the offline analysis is unusable; <see cref="Kind"/> says why, the message says where.</summary>
public sealed class DiagnosticInputException : Exception
{
    /// <summary>Creates the exception.</summary>
    public DiagnosticInputException(DiagnosticInputErrorKind kind, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Kind = kind;
    }

    /// <summary>Creates an exception of kind <see cref="DiagnosticInputErrorKind.InvalidOption"/>.</summary>
    public DiagnosticInputException()
        : this(DiagnosticInputErrorKind.InvalidOption, "invalid diagnostic input")
    {
    }

    /// <summary>Creates an exception of kind <see cref="DiagnosticInputErrorKind.InvalidOption"/>.</summary>
    public DiagnosticInputException(string message)
        : this(DiagnosticInputErrorKind.InvalidOption, message)
    {
    }

    /// <summary>Creates an exception of kind <see cref="DiagnosticInputErrorKind.InvalidOption"/>.</summary>
    public DiagnosticInputException(string message, Exception innerException)
        : this(DiagnosticInputErrorKind.InvalidOption, message, innerException)
    {
    }

    /// <summary>What is wrong.</summary>
    public DiagnosticInputErrorKind Kind { get; }
}
