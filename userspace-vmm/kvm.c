// SPDX-License-Identifier: GPL-2.0
/*
 * The VM: /dev/kvm, guest RAM around the PCI hole, the in-kernel irqchip
 * and PIT, the GSI routing table and the eventfd bindings.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm/kvm.h"
#include "vmm/util.h"

/*
 * KVM needs three pages for the real-mode TSS and one for the EPT identity
 * map on Intel; they must not be guest RAM. Just below the BIOS ROM alias
 * at the top of the PCI hole, where QEMU puts them too.
 */
#define VM_IDENTITY_MAP_ADDR	0xfffbc000ULL
#define VM_TSS_ADDR		0xfffbd000ULL

/* The irqchip inputs: GSIs 0-15 reach the PIC and IOAPIC, 16-23 the IOAPIC. */
#define VM_IRQCHIP_GSIS		24
#define VM_PIC_GSIS		16
#define VM_MAX_ROUTES		1024

static int kvm__open(void)
{
	int fd, version;

	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		pr_errno("cannot open /dev/kvm");
		return -errno;
	}
	version = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION) {
		pr_err("/dev/kvm speaks KVM API %d, not %d", version,
		       KVM_API_VERSION);
		close(fd);
		return -ENOTSUP;
	}
	return fd;
}

int kvm__max_vcpus(void)
{
	int fd, max;

	fd = kvm__open();
	if (fd < 0)
		return fd;
	max = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	/* Old kernels: KVM_CAP_NR_VCPUS is the recommended maximum. */
	if (max <= 0)
		max = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	if (max <= 0)
		max = 4;
	close(fd);
	return max;
}

static int vm__check_caps(struct vm *vm)
{
	static const struct {
		int cap;
		const char *name;
	} caps[] = {
		{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
		{ KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
		{ KVM_CAP_SET_IDENTITY_MAP_ADDR, "KVM_CAP_SET_IDENTITY_MAP_ADDR" },
		{ KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
		{ KVM_CAP_PIT2, "KVM_CAP_PIT2" },
		{ KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING" },
		{ KVM_CAP_IRQFD, "KVM_CAP_IRQFD" },
		{ KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD" },
		{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
		{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(caps); i++) {
		if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, caps[i].cap) <= 0) {
			pr_err("this KVM lacks %s", caps[i].name);
			return -ENOTSUP;
		}
	}
	return 0;
}

/* Guest RAM: one mapping, split into a slot below the hole and one above. */
static int vm__init_memory(struct vm *vm, uint64_t ram_size)
{
	uint64_t low = ram_size < VMM_PCI_HOLE_START ? ram_size :
						      VMM_PCI_HOLE_START;
	uint8_t *hva;
	int i;

	/* Untouched guest pages cost nothing: reserve no swap for them. */
	hva = mmap(NULL, ram_size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (hva == MAP_FAILED) {
		pr_errno("cannot map %llu MiB of guest memory",
			 (unsigned long long)(ram_size / SZ_1M));
		return -errno;
	}
	madvise(hva, ram_size, MADV_HUGEPAGE);
	vm->ram_size = ram_size;

	vm->mem[0] = (struct vm_mem_region){ 0, low, hva };
	vm->nr_mem = 1;
	if (ram_size > low) {
		vm->mem[1] = (struct vm_mem_region){ VMM_PCI_HOLE_END,
						     ram_size - low,
						     hva + low };
		vm->nr_mem = 2;
	}

	for (i = 0; i < vm->nr_mem; i++) {
		struct kvm_userspace_memory_region region = {
			.slot = i,
			.guest_phys_addr = vm->mem[i].gpa,
			.memory_size = vm->mem[i].size,
			.userspace_addr = (uintptr_t)vm->mem[i].hva,
		};

		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region)) {
			pr_errno("KVM_SET_USER_MEMORY_REGION");
			return -errno;
		}
	}
	return 0;
}

/* Commit the routing table. Call with gsi_lock held. */
static int vm__commit_routing(struct vm *vm)
{
	if (ioctl(vm->vm_fd, KVM_SET_GSI_ROUTING, vm->routing)) {
		pr_errno("KVM_SET_GSI_ROUTING");
		return -errno;
	}
	return 0;
}

/*
 * KVM_SET_GSI_ROUTING replaces the whole table, so ours starts as the one
 * KVM_CREATE_IRQCHIP installs: GSI n to PIC pin n (n < 16) and IOAPIC pin n.
 */
static int vm__init_routing(struct vm *vm)
{
	struct kvm_irq_routing_entry *e;
	unsigned int gsi;

	vm->routing = calloc(1, sizeof(*vm->routing) +
			     VM_MAX_ROUTES * sizeof(vm->routing->entries[0]));
	if (!vm->routing)
		return -ENOMEM;
	pthread_mutex_init(&vm->gsi_lock, NULL);

	for (gsi = 0; gsi < VM_IRQCHIP_GSIS; gsi++) {
		if (gsi < VM_PIC_GSIS) {
			e = &vm->routing->entries[vm->routing->nr++];
			e->gsi = gsi;
			e->type = KVM_IRQ_ROUTING_IRQCHIP;
			e->u.irqchip.irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER :
							 KVM_IRQCHIP_PIC_SLAVE;
			e->u.irqchip.pin = gsi % 8;
		}
		e = &vm->routing->entries[vm->routing->nr++];
		e->gsi = gsi;
		e->type = KVM_IRQ_ROUTING_IRQCHIP;
		e->u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
		e->u.irqchip.pin = gsi;
	}
	vm->next_gsi = VM_IRQCHIP_GSIS;
	return vm__commit_routing(vm);
}

int vm__init(struct vm *vm, uint64_t ram_size)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	uint64_t identity_map = VM_IDENTITY_MAP_ADDR;
	int ret;

	memset(vm, 0, sizeof(*vm));
	vm->vm_fd = -1;
	vm->kvm_fd = kvm__open();
	if (vm->kvm_fd < 0)
		return vm->kvm_fd;
	ret = vm__check_caps(vm);
	if (ret)
		goto err_close_kvm;

	vm->vcpu_mmap_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vm->vcpu_mmap_size <= 0) {
		pr_errno("KVM_GET_VCPU_MMAP_SIZE");
		ret = -EIO;
		goto err_close_kvm;
	}

	do
		vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	while (vm->vm_fd < 0 && errno == EINTR);
	if (vm->vm_fd < 0) {
		ret = -errno;
		pr_errno("KVM_CREATE_VM");
		goto err_close_kvm;
	}

	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, VM_TSS_ADDR) ||
	    ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &identity_map)) {
		ret = -errno;
		pr_errno("KVM_SET_TSS_ADDR");
		goto err_close_vm;
	}
	/* The irqchip must exist before the vCPUs (their LAPICs). */
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0)) {
		ret = -errno;
		pr_errno("KVM_CREATE_IRQCHIP");
		goto err_close_vm;
	}
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit)) {
		ret = -errno;
		pr_errno("KVM_CREATE_PIT2");
		goto err_close_vm;
	}

	ret = vm__init_routing(vm);
	if (ret)
		goto err_free_routing;
	ret = vm__init_memory(vm, ram_size);
	if (ret)
		goto err_unmap;
	return 0;

err_unmap:
	if (vm->nr_mem)
		munmap(vm->mem[0].hva, vm->ram_size);
err_free_routing:
	free(vm->routing);
	vm->routing = NULL;
err_close_vm:
	close(vm->vm_fd);
	vm->vm_fd = -1;
err_close_kvm:
	close(vm->kvm_fd);
	vm->kvm_fd = -1;
	return ret;
}

void vm__exit(struct vm *vm)
{
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	if (vm->nr_mem)
		munmap(vm->mem[0].hva, vm->ram_size);
	free(vm->routing);
	memset(vm, 0, sizeof(*vm));
	vm->vm_fd = -1;
	vm->kvm_fd = -1;
}

void *vm__gpa_to_hva(struct vm *vm, uint64_t gpa, uint64_t len)
{
	int i;

	for (i = 0; i < vm->nr_mem; i++) {
		const struct vm_mem_region *r = &vm->mem[i];
		uint64_t off = gpa - r->gpa;

		/* Written so that no sum can wrap: gpa and len are guest's. */
		if (gpa >= r->gpa && off < r->size && len <= r->size - off)
			return (uint8_t *)r->hva + off;
	}
	return NULL;
}

int vm__irq_line(struct vm *vm, unsigned int irq, int level)
{
	struct kvm_irq_level line = { .irq = irq, .level = !!level };

	if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &line))
		return -errno;
	return 0;
}

/* The routing entry of @gsi, or NULL. Call with gsi_lock held. */
static struct kvm_irq_routing_entry *vm__find_route(struct vm *vm,
						    unsigned int gsi)
{
	unsigned int i;

	for (i = 0; i < vm->routing->nr; i++)
		if (vm->routing->entries[i].gsi == gsi)
			return &vm->routing->entries[i];
	return NULL;
}

static void vm__set_msi(struct kvm_irq_routing_entry *e, uint64_t addr,
			uint32_t data)
{
	e->type = KVM_IRQ_ROUTING_MSI;
	e->flags = 0;
	e->u.msi.address_lo = (uint32_t)addr;
	e->u.msi.address_hi = addr >> 32;
	e->u.msi.data = data;
}

int vm__msi_route_add(struct vm *vm, uint64_t addr, uint32_t data)
{
	struct kvm_irq_routing_entry *e;
	unsigned int gsi;
	int ret;

	pthread_mutex_lock(&vm->gsi_lock);
	if (vm->routing->nr == VM_MAX_ROUTES) {
		ret = -ENOSPC;
		goto out;
	}
	/* The lowest free GSI: freed ones are reused, the table stays small. */
	for (gsi = vm->next_gsi; vm__find_route(vm, gsi); gsi++)
		;
	e = &vm->routing->entries[vm->routing->nr++];
	memset(e, 0, sizeof(*e));
	e->gsi = gsi;
	vm__set_msi(e, addr, data);
	ret = vm__commit_routing(vm);
	if (ret)
		vm->routing->nr--;
	else
		ret = gsi;
out:
	pthread_mutex_unlock(&vm->gsi_lock);
	return ret;
}

int vm__msi_route_update(struct vm *vm, unsigned int gsi, uint64_t addr,
			 uint32_t data)
{
	struct kvm_irq_routing_entry *e, old;
	int ret;

	pthread_mutex_lock(&vm->gsi_lock);
	e = gsi >= VM_IRQCHIP_GSIS ? vm__find_route(vm, gsi) : NULL;
	if (!e) {
		ret = -ENOENT;
		goto out;
	}
	if (e->u.msi.address_lo == (uint32_t)addr &&
	    e->u.msi.address_hi == addr >> 32 && e->u.msi.data == data) {
		ret = 0;
		goto out;
	}
	old = *e;
	vm__set_msi(e, addr, data);
	ret = vm__commit_routing(vm);
	if (ret)
		*e = old;
out:
	pthread_mutex_unlock(&vm->gsi_lock);
	return ret;
}

void vm__msi_route_del(struct vm *vm, unsigned int gsi)
{
	struct kvm_irq_routing_entry *e;

	pthread_mutex_lock(&vm->gsi_lock);
	e = gsi >= VM_IRQCHIP_GSIS ? vm__find_route(vm, gsi) : NULL;
	if (e) {
		*e = vm->routing->entries[--vm->routing->nr];
		vm__commit_routing(vm);
	}
	pthread_mutex_unlock(&vm->gsi_lock);
}

int vm__irqfd(struct vm *vm, int efd, unsigned int gsi, bool assign)
{
	struct kvm_irqfd irqfd = {
		.fd = efd,
		.gsi = gsi,
		.flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN,
	};

	if (ioctl(vm->vm_fd, KVM_IRQFD, &irqfd))
		return -errno;
	return 0;
}

int vm__ioeventfd(struct vm *vm, int efd, uint64_t addr, unsigned int len,
		  bool assign)
{
	struct kvm_ioeventfd ioeventfd = {
		.addr = addr,
		.len = len,
		.fd = efd,
		.flags = assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN,
	};

	if (ioctl(vm->vm_fd, KVM_IOEVENTFD, &ioeventfd))
		return -errno;
	return 0;
}
