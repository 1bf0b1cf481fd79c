/* elf.c - a strict ELF loader: everything is bounds-checked, because the
 * image comes from the user and a bad one must be refused, not loaded. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot/elf.h"
#include "util/io.h"
#include "util/log.h"

struct seg {
	uint64_t type, offset, paddr, filesz, memsz;
};

static int read_phdr(const uint8_t *img, size_t len, int c64, uint64_t phoff,
		     unsigned i, unsigned phentsize, struct seg *s)
{
	uint64_t at = phoff + (uint64_t)i * phentsize;
	if (at > len || phentsize > len - at)
		return -1;
	if (c64) {
		Elf64_Phdr p;
		memcpy(&p, img + at, sizeof(p));
		*s = (struct seg){ p.p_type, p.p_offset, p.p_paddr, p.p_filesz, p.p_memsz };
	} else {
		Elf32_Phdr p;
		memcpy(&p, img + at, sizeof(p));
		*s = (struct seg){ p.p_type, p.p_offset, p.p_paddr, p.p_filesz, p.p_memsz };
	}
	return 0;
}

int elf__load(const void *image, size_t len, uint8_t *ram, uint64_t ram_size,
	     uint64_t min_paddr, struct elf_image *out, char *err, size_t errlen)
{
	const uint8_t *img = image;
	uint64_t phoff, entry;
	unsigned phnum, phentsize, loads = 0;
	int c64, entry_ok = 0;

	if (len < EI_NIDENT || memcmp(img, ELFMAG, SELFMAG)) {
		errbuf__set(err, errlen, "not an ELF file (bad magic)");
		return -1;
	}
	if (img[EI_DATA] != ELFDATA2LSB) {
		errbuf__set(err, errlen, "ELF file is not little-endian");
		return -1;
	}
	if (img[EI_CLASS] == ELFCLASS64) {
		Elf64_Ehdr h;
		if (len < sizeof(h))
			goto short_hdr;
		memcpy(&h, img, sizeof(h));
		if (h.e_machine != EM_X86_64)
			goto bad_machine;
		c64 = 1;
		phoff = h.e_phoff; phnum = h.e_phnum; phentsize = h.e_phentsize; entry = h.e_entry;
		if (phentsize != sizeof(Elf64_Phdr))
			goto bad_phent;
	} else if (img[EI_CLASS] == ELFCLASS32) {
		Elf32_Ehdr h;
		if (len < sizeof(h))
			goto short_hdr;
		memcpy(&h, img, sizeof(h));
		if (h.e_machine != EM_386 && h.e_machine != EM_X86_64)
			goto bad_machine;
		c64 = 0;
		phoff = h.e_phoff; phnum = h.e_phnum; phentsize = h.e_phentsize; entry = h.e_entry;
		if (phentsize != sizeof(Elf32_Phdr))
			goto bad_phent;
	} else {
		errbuf__set(err, errlen, "ELF file has an unknown class %u", img[EI_CLASS]);
		return -1;
	}
	if (phnum == 0) {
		errbuf__set(err, errlen, "ELF file has no program headers");
		return -1;
	}

	out->lowest = UINT64_MAX;
	out->highest = 0;
	/* First pass validates every segment, so a bad image writes nothing. */
	for (int pass = 0; pass < 2; pass++) {
		for (unsigned i = 0; i < phnum; i++) {
			struct seg s;
			if (read_phdr(img, len, c64, phoff, i, phentsize, &s)) {
				errbuf__set(err, errlen, "program header %u lies outside the file", i);
				return -1;
			}
			if (s.type != PT_LOAD || s.memsz == 0)
				continue;
			if (pass == 0) {
				if (s.filesz > s.memsz) {
					errbuf__set(err, errlen, "segment %u: file size exceeds memory size", i);
					return -1;
				}
				if (s.offset > len || s.filesz > len - s.offset) {
					errbuf__set(err, errlen, "segment %u: data lies outside the file", i);
					return -1;
				}
				if (s.paddr < min_paddr) {
					errbuf__set(err, errlen, "segment %u: loads at 0x%llx, below 0x%llx",
						   i, (unsigned long long)s.paddr, (unsigned long long)min_paddr);
					return -1;
				}
				if (s.paddr > ram_size || s.memsz > ram_size - s.paddr) {
					errbuf__set(err, errlen,
						   "segment %u: 0x%llx+0x%llx does not fit in %llu MiB of guest RAM",
						   i, (unsigned long long)s.paddr, (unsigned long long)s.memsz,
						   (unsigned long long)(ram_size >> 20));
					return -1;
				}
				if (s.paddr < out->lowest)
					out->lowest = s.paddr;
				if (s.paddr + s.memsz > out->highest)
					out->highest = s.paddr + s.memsz;
				if (entry >= s.paddr && entry - s.paddr < s.memsz)
					entry_ok = 1;
				loads++;
			} else {
				memcpy(ram + s.paddr, img + s.offset, s.filesz);
				memset(ram + s.paddr + s.filesz, 0, s.memsz - s.filesz);
			}
		}
		if (pass == 0 && loads == 0) {
			errbuf__set(err, errlen, "ELF file has no loadable segments");
			return -1;
		}
		/* The entry must lie inside a segment: checking only [lowest, highest)
		 * accepted an entry in the gap between two segments. */
		if (pass == 0 && !entry_ok) {
			errbuf__set(err, errlen, "entry point 0x%llx is outside the loaded segments",
				   (unsigned long long)entry);
			return -1;
		}
	}
	out->entry = entry;
	out->class64 = c64;
	return 0;

short_hdr:
	errbuf__set(err, errlen, "ELF header is truncated");
	return -1;
bad_machine:
	errbuf__set(err, errlen, "ELF file is not for x86 (e_machine)");
	return -1;
bad_phent:
	errbuf__set(err, errlen, "ELF program header size is wrong");
	return -1;
}
