/* A plugin's ABI note, read from its file before it is loaded.
 *
 * dlopen() runs a shared object's constructors before it returns, so the
 * vtable handshake (loader.c) comes too late to keep a plugin built for
 * another ABI from running code. TESSERA_BACKEND_DEFINE therefore also
 * emits an ELF note (owner "Tessera", type TESSERA_BACKEND_NOTE_TYPE, the
 * ABI major and minor) that the linker puts in a PT_NOTE segment; it is
 * read here with plain reads of the file, and a file without it, or with
 * another ABI, is refused before dlopen. (dlmopen runs constructors too,
 * and RTLD_NOLOAD does not load at all: there is no way to dlopen "without
 * code".)
 *
 * The file is hostile until proven otherwise: every offset and size in it
 * is checked against the file's size and small limits before it is used,
 * and nothing but the program headers and the note segments is read. */
#include "tessera-private.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Real plugins have about a dozen program headers and a few hundred bytes
 * of notes; anything far larger is not a plugin. */
#define MAX_PHNUM 128
#define MAX_NOTE_SEGMENT (64 * 1024)

#if __SIZEOF_POINTER__ == 8
#define NATIVE_CLASS ELFCLASS64
#else
#define NATIVE_CLASS ELFCLASS32
#endif
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define NATIVE_DATA ELFDATA2LSB
#else
#define NATIVE_DATA ELFDATA2MSB
#endif

static gboolean
read_exact (int fd, void *buf, gsize len, guint64 offset)
{
  gsize done = 0;
  while (done < len)
    {
      ssize_t n = pread (fd, (char *) buf + done, len - done, (off_t) (offset + done));
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      done += (gsize) n;
    }
  return TRUE;
}

static guint64
align_up (guint64 value, guint64 align)
{
  return (value + align - 1) & ~(align - 1);
}

/* Looks for the Tessera note in one PT_NOTE segment's bytes. */
static gboolean
find_note (const guint8 *data, guint64 size, guint64 align, guint32 *major, guint32 *minor)
{
  static const char owner[] = TESSERA_BACKEND_NOTE_OWNER;
  guint64 pos = 0;
  while (size - pos >= sizeof (ElfW (Nhdr)))
    {
      ElfW (Nhdr) hdr;
      memcpy (&hdr, data + pos, sizeof hdr);
      /* 32-bit sizes in 64-bit arithmetic: no sum below can wrap. */
      guint64 name_at = pos + sizeof hdr;
      guint64 desc_at = align_up (name_at + hdr.n_namesz, align);
      guint64 next = align_up (desc_at + hdr.n_descsz, align);
      if (desc_at + hdr.n_descsz > size)
        return FALSE; /* runs past the segment: malformed, stop */
      if (hdr.n_namesz == sizeof owner && memcmp (data + name_at, owner, sizeof owner) == 0
          && hdr.n_type == TESSERA_BACKEND_NOTE_TYPE && hdr.n_descsz >= 2 * sizeof (guint32))
        {
          memcpy (major, data + desc_at, sizeof *major);
          memcpy (minor, data + desc_at + sizeof *major, sizeof *minor);
          return TRUE;
        }
      if (next <= pos || next > size)
        return FALSE;
      pos = next;
    }
  return FALSE;
}

static gboolean
not_elf (const char *path, const char *why, GError **error)
{
  g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_PLUGIN_LOAD,
               "cannot load plugin %s: it is not a shared object for this system (%s)", path, why);
  return FALSE;
}

gboolean
_tessera_loader_read_abi_note (const char *path, guint32 *major, guint32 *minor, GError **error)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  if (fd < 0)
    {
      int errsv = errno;
      _tessera_set_error_from_errno (error, errsv, "cannot read plugin", path);
      return FALSE;
    }

  gboolean found = FALSE;
  const char *why = NULL;
  struct stat st;
  ElfW (Ehdr) eh;
  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode))
    why = "not a regular file";
  else if (!read_exact (fd, &eh, sizeof eh, 0) || memcmp (eh.e_ident, ELFMAG, SELFMAG) != 0)
    why = "no ELF header";
  else if (eh.e_ident[EI_CLASS] != NATIVE_CLASS || eh.e_ident[EI_DATA] != NATIVE_DATA
           || eh.e_type != ET_DYN)
    why = "another ELF class, byte order or type";
  else if (eh.e_phentsize != sizeof (ElfW (Phdr)) || eh.e_phnum == 0 || eh.e_phnum > MAX_PHNUM
           || eh.e_phoff > (guint64) st.st_size
           || (guint64) eh.e_phnum * sizeof (ElfW (Phdr)) > (guint64) st.st_size - eh.e_phoff)
    why = "damaged program headers";

  for (guint i = 0; why == NULL && i < eh.e_phnum; i++)
    {
      ElfW (Phdr) ph;
      if (!read_exact (fd, &ph, sizeof ph, eh.e_phoff + (guint64) i * sizeof ph))
        {
          why = "damaged program headers";
          break;
        }
      /* dlopen maps these from the file: a page past its end would be a
       * SIGBUS when touched, not an error. */
      if (ph.p_type == PT_LOAD
          && (ph.p_offset > (guint64) st.st_size
              || ph.p_filesz > (guint64) st.st_size - ph.p_offset))
        {
          why = "truncated: a segment ends past the end of the file";
          break;
        }
      if (ph.p_type != PT_NOTE || ph.p_filesz == 0 || found)
        continue;
      if (ph.p_filesz > MAX_NOTE_SEGMENT || ph.p_offset > (guint64) st.st_size
          || ph.p_filesz > (guint64) st.st_size - ph.p_offset)
        {
          why = "damaged note segment";
          break;
        }
      g_autofree guint8 *data = g_malloc (ph.p_filesz);
      if (!read_exact (fd, data, ph.p_filesz, ph.p_offset))
        {
          why = "damaged note segment";
          break;
        }
      found = find_note (data, ph.p_filesz, ph.p_align == 8 ? 8 : 4, major, minor);
    }
  close (fd);

  if (why != NULL)
    return not_elf (path, why, error);
  if (!found)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_PLUGIN_LOAD,
                   "refusing plugin %s: it carries no Tessera ABI note (.note.tessera), so it "
                   "was not built with this libtessera's TESSERA_BACKEND_DEFINE: rebuild it "
                   "against libtessera %s",
                   path, TESSERA_VERSION);
      return FALSE;
    }
  return TRUE;
}
