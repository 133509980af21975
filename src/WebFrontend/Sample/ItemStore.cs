using System.Collections.Concurrent;
using System.Text.Json.Nodes;

namespace CountCachula.WebFrontend.Sample;

/// <summary>
/// The sample app's in-memory database, bounded: it keeps at most
/// <see cref="MaxItems"/> items (or <paramref name="maxItems"/>), and creating one more drops the oldest (the caller
/// invalidates its tag), so the demo's memory stays bounded however much is posted to it.
/// </summary>
/// <param name="maxItems">The most items kept.</param>
public sealed class ItemStore(int maxItems = ItemStore.MaxItems)
{
    /// <summary>The most items kept by default.</summary>
    public const int MaxItems = 1000;

    private readonly ConcurrentDictionary<string, JsonObject> _items = new(StringComparer.Ordinal);
    private readonly Lock _order = new();
    private readonly LinkedList<string> _ids = [];

    /// <summary>All items, oldest first.</summary>
    public IReadOnlyList<JsonObject> All()
    {
        lock (_order)
        {
            return [.. _ids.Select(id => _items[id])];
        }
    }

    /// <summary>How many items are kept.</summary>
    public int Count
    {
        get
        {
            lock (_order)
            {
                return _ids.Count;
            }
        }
    }

    /// <summary>The item with <paramref name="id"/>, if any.</summary>
    public JsonObject? Find(string id) => _items.GetValueOrDefault(id);

    /// <summary>
    /// Stores a new item made of <paramref name="data"/> with a fresh id and <c>createdAt</c>; when the store was full,
    /// also returns the id of the oldest item, which it dropped to make room.
    /// </summary>
    public (JsonObject Item, string? Dropped) Create(JsonObject data)
    {
        var item = (JsonObject)data.DeepClone();
        var id = Guid.NewGuid().ToString();
        item["id"] = id;
        item["createdAt"] = DateTimeOffset.UtcNow;
        lock (_order)
        {
            string? dropped = null;
            if (_ids.Count >= maxItems)
            {
                dropped = _ids.First!.Value;
                _ids.RemoveFirst();
                _items.TryRemove(dropped, out _);
            }

            _items[id] = item;
            _ids.AddLast(id);
            return (item, dropped);
        }
    }

    /// <summary>Merges <paramref name="updates"/> into the item and stamps <c>updatedAt</c>; null if there is no such item.</summary>
    public JsonObject? Update(string id, JsonObject updates)
    {
        lock (_order)
        {
            if (!_items.TryGetValue(id, out var current))
            {
                return null;
            }

            var updated = (JsonObject)current.DeepClone();
            foreach (var (key, value) in updates)
            {
                if (key is not ("id" or "createdAt"))
                {
                    updated[key] = value?.DeepClone();
                }
            }

            updated["updatedAt"] = DateTimeOffset.UtcNow;
            _items[id] = updated;
            return updated;
        }
    }
}
