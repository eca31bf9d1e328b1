using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace M2SNet.Edge.Torch.Serialization;

/// <summary>
/// PyTorch's checkpoint file (torch.save since 1.6): a zip archive with the pickled object in
/// <c>&lt;name&gt;/data.pkl</c> and each tensor storage as raw little-endian bytes in
/// <c>&lt;name&gt;/data/&lt;key&gt;</c>. Tensors come back as <see cref="TensorData"/>, dicts as
/// <see cref="PickleDict"/>, lists as <see cref="List{T}"/>, tuples as arrays.
/// </summary>
public static class PthArchive
{
    private const uint ZipLocalHeader = 0x04034b50;

    public static object? Read(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (FileNotFoundException)
        {
            throw new FileNotFoundException($"checkpoint not found: {path}", path);
        }
        return Read(bytes, path);
    }

    public static object? Read(byte[] bytes, string name = "checkpoint")
    {
        if (bytes.Length < 4 || BinaryPrimitives.ReadUInt32LittleEndian(bytes) != ZipLocalHeader)
        {
            throw new InvalidDataException(bytes.Length >= 2 && bytes[0] == 0x80
                ? $"{name} is a legacy (pre-1.6) torch.save file; load it in PyTorch and save it again with torch.save to get the zip format"
                : $"{name} is not a PyTorch checkpoint (not a zip archive)");
        }
        ZipArchive zip;
        try
        {
            zip = new ZipArchive(new MemoryStream(bytes, writable: false), ZipArchiveMode.Read);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{name} is a damaged zip archive (truncated?): {e.Message}", e);
        }
        using (zip)
        {
            var pickle = zip.Entries.FirstOrDefault(e => e.FullName.EndsWith("data.pkl", StringComparison.Ordinal))
                ?? throw new InvalidDataException($"{name} has no data.pkl: not a torch.save archive");
            var prefix = pickle.FullName[..^"data.pkl".Length];
            var storages = new Dictionary<string, byte[]>(StringComparer.Ordinal);
            byte[] Storage(string key)
            {
                if (storages.TryGetValue(key, out var s)) return s;
                var entry = zip.GetEntry(prefix + "data/" + key)
                    ?? throw new InvalidDataException($"{name} lacks the storage data/{key} its pickle refers to");
                return storages[key] = ReadEntry(entry, name);
            }

            var unpickler = new Unpickler(ReadEntry(pickle, name),
                pid => LoadStorage(pid, Storage),
                Reduce);
            return unpickler.Load();
        }
    }

    /// <summary>
    /// Writes an object tree the way torch.save does, so PyTorch (and <see cref="Read(string)"/>)
    /// can load it: dicts (ordered or not) with string keys, lists, strings, integers, floats,
    /// booleans, null and tensors. The file is replaced atomically.
    /// </summary>
    public static void Write(string path, object? root)
    {
        var archiveName = "archive";
        var writer = new Pickler();
        var pickle = writer.Dump(root);
        var tmp = path + ".tmp";
        using (var zip = new StoredZipWriter(File.Create(tmp)))
        {
            zip.Add($"{archiveName}/data.pkl", pickle);
            zip.Add($"{archiveName}/byteorder", Encoding.ASCII.GetBytes("little"));
            for (var i = 0; i < writer.Storages.Count; i++) zip.Add($"{archiveName}/data/{i}", writer.Storages[i].Data);
            zip.Add($"{archiveName}/version", Encoding.ASCII.GetBytes("3\n"));
        }
        File.Move(tmp, path, overwrite: true);
    }

    private static byte[] ReadEntry(ZipArchiveEntry entry, string name)
    {
        try
        {
            using var s = entry.Open();
            var buffer = new byte[entry.Length];
            s.ReadExactly(buffer);
            return buffer;
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or IOException)
        {
            throw new InvalidDataException($"{name}: entry {entry.FullName} cannot be read (damaged or truncated file): {e.Message}", e);
        }
    }

    private sealed record StorageRef(ScalarType DType, byte[] Bytes);

    private static StorageRef LoadStorage(object? pid, Func<string, byte[]> storage)
    {
        if (pid is not object?[] { Length: >= 5 } t || t[0] is not "storage" || t[1] is not PickleGlobal type || t[2] is not string key)
        {
            throw new InvalidDataException("unsupported persistent id in the checkpoint (not a tensor storage)");
        }
        return new StorageRef(StorageType(type), storage(key));
    }

    private static ScalarType StorageType(PickleGlobal g) => g.Name switch
    {
        "FloatStorage" => ScalarType.Float32,
        "HalfStorage" => ScalarType.Float16,
        "BFloat16Storage" => ScalarType.BFloat16,
        "DoubleStorage" => ScalarType.Float64,
        "LongStorage" => ScalarType.Int64,
        "IntStorage" => ScalarType.Int32,
        "ShortStorage" => ScalarType.Int16,
        "CharStorage" => ScalarType.Int8,
        "ByteStorage" or "UntypedStorage" => ScalarType.Byte,
        "BoolStorage" => ScalarType.Bool,
        _ => throw new InvalidDataException($"tensor storage type {g} is not supported"),
    };

    private static object? Reduce(PickleGlobal callable, object?[] args) => callable.ToString() switch
    {
        "collections.OrderedDict" => ToOrderedDict(args),
        "torch._utils._rebuild_tensor_v2" or "torch._utils._rebuild_tensor" => RebuildTensor(args),
        "torch._utils._rebuild_parameter" or "torch._utils._rebuild_parameter_with_state" => args[0],
        _ => new PickleObject(callable, args),
    };

    private static PickleDict ToOrderedDict(object?[] args)
    {
        var d = new PickleDict { IsOrdered = true };
        if (args is [List<object?> pairs])
        {
            foreach (var p in pairs)
            {
                if (p is object?[] { Length: 2 } kv) d.Items.Add(new(kv[0], kv[1]));
            }
        }
        return d;
    }

    /// <summary>(storage, storage_offset, size, stride, ...) → the tensor's elements, contiguous.</summary>
    private static TensorData RebuildTensor(object?[] args)
    {
        if (args.Length < 4 || args[0] is not StorageRef storage || args[2] is not object?[] sizeArgs || args[3] is not object?[] strideArgs)
        {
            throw new InvalidDataException("malformed tensor record in the checkpoint");
        }
        var offset = Integer(args[1]);
        var size = sizeArgs.Select(Integer).ToArray();
        var stride = strideArgs.Select(Integer).ToArray();
        if (size.Length != stride.Length || offset < 0 || size.Any(d => d < 0) || stride.Any(d => d < 0))
        {
            throw new InvalidDataException($"malformed tensor record in the checkpoint: size [{string.Join(", ", size)}], stride [{string.Join(", ", stride)}], offset {offset}");
        }
        var elementSize = ScalarTypes.ElementSize(storage.DType);
        // Checked before anything is allocated: a damaged size must not become a huge array.
        long count = 1, last = offset;
        try
        {
            checked
            {
                foreach (var d in size) count *= d;
                for (var i = 0; i < size.Length; i++) last += (Math.Max(size[i], 1) - 1) * stride[i];
                _ = (last + 1) * elementSize;
                _ = count * elementSize;
            }
        }
        catch (OverflowException)
        {
            throw new InvalidDataException($"tensor [{string.Join(", ", size)}] with stride [{string.Join(", ", stride)}] is larger than any checkpoint holds");
        }
        if (count == 0) return new TensorData(storage.DType, size, []);

        // Largest element index touched must lie inside the storage.
        if ((last + 1) * elementSize > storage.Bytes.Length || count * elementSize > Array.MaxLength)
        {
            throw new InvalidDataException($"tensor [{string.Join(", ", size)}] reaches past its storage of {storage.Bytes.Length} bytes (truncated checkpoint?)");
        }
        var result = new byte[count * elementSize];
        if (IsRowMajor(size, stride))
        {
            storage.Bytes.AsSpan((int)(offset * elementSize), result.Length).CopyTo(result);
        }
        else
        {
            var index = new long[size.Length];
            for (long n = 0; n < count; n++)
            {
                long src = offset;
                for (var i = 0; i < size.Length; i++) src += index[i] * stride[i];
                storage.Bytes.AsSpan((int)(src * elementSize), elementSize).CopyTo(result.AsSpan((int)(n * elementSize)));
                for (var i = size.Length - 1; i >= 0 && ++index[i] == size[i]; i--) index[i] = 0;
            }
        }
        return new TensorData(storage.DType, size, result);
    }

    private static long Integer(object? value) => value switch
    {
        long l => l,
        bool b => b ? 1 : 0,
        _ => throw new InvalidDataException($"malformed tensor record in the checkpoint: a size, stride or offset is a {value?.GetType().Name ?? "None"}"),
    };

    private static bool IsRowMajor(long[] size, long[] stride)
    {
        long expected = 1;
        for (var i = size.Length - 1; i >= 0; i--)
        {
            if (size[i] != 1 && stride[i] != expected) return false;
            expected *= size[i];
        }
        return true;
    }
}
