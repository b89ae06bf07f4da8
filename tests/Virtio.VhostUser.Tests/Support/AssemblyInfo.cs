// Descriptor and mapping counts are per process: tests that check for leaks must not overlap.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
