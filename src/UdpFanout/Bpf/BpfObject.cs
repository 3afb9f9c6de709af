using System.Runtime.InteropServices;
using static Interop.Libbpf;

namespace UdpFanout.Bpf;

/// <summary>An opened (then loaded) libbpf <c>struct bpf_object</c>; closing it unloads its programs and maps.</summary>
internal sealed class BpfObject : SafeHandle
{
    private BpfObject(nint handle, string path) : base(0, ownsHandle: true)
    {
        SetHandle(handle);
        Path = path;
    }

    public string Path { get; }

    public override bool IsInvalid => handle == 0;

    public static BpfObject Open(string path)
    {
        nint obj = 0;
        var errno = 0;
        var log = LibbpfLog.Capture(() =>
        {
            obj = bpf_object__open_file(path, 0);
            errno = Marshal.GetLastPInvokeError();
        });
        return obj != 0 ? new BpfObject(obj, path) : throw BpfException.For($"cannot open BPF object {path}", errno, log);
    }

    /// <summary>
    /// The writable initial value of a global-data section such as <c>.rodata</c>, where <c>const volatile</c>
    /// tunables live; only before <see cref="Load"/>.
    /// </summary>
    public unsafe Span<byte> GlobalData(string section)
    {
        var map = Map(section);
        nuint size;
        var data = bpf_map__initial_value(map.Handle, &size);
        return data is null ? throw new BpfException($"{Path}: section {section} has no initial value", Interop.Libc.EINVAL) : new Span<byte>(data, (int)size);
    }

    /// <summary>Makes map <paramref name="name"/> the existing map <paramref name="fd"/>, shared with another object; only before <see cref="Load"/>.</summary>
    public void ReuseMap(string name, int fd)
    {
        var result = bpf_map__reuse_fd(Map(name).Handle, fd);
        if (result != 0)
        {
            throw BpfException.For($"{Path}: cannot share map {name}", -result);
        }
    }

    public void Load()
    {
        var result = 0;
        var log = LibbpfLog.Capture(() => result = bpf_object__load(handle));
        if (result < 0)
        {
            var hint = -result is Interop.Libc.EINVAL or 13 ? " (the verifier rejected the program; its log follows)" : "";
            throw BpfException.For($"cannot load BPF object {Path}{hint}", -result, log);
        }
    }

    public int ProgramFd(string name)
    {
        var prog = bpf_object__find_program_by_name(handle, name);
        return prog == 0 ? throw new BpfException($"{Path} has no program {name}", Interop.Libc.ENOENT) : bpf_program__fd(prog);
    }

    public BpfMap Map(string name)
    {
        var map = bpf_object__find_map_by_name(handle, name);
        return map == 0 ? throw new BpfException($"{Path} has no map {name}", Interop.Libc.ENOENT) : new BpfMap(map, name);
    }

    protected override bool ReleaseHandle()
    {
        bpf_object__close(handle);
        return true;
    }
}
