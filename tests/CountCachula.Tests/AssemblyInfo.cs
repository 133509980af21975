// Each fixture starts a silo and Kestrel; on a 2-core box two at a time is plenty.
[assembly: CollectionBehavior(MaxParallelThreads = 2)]
