#include <linux/module.h>
#define INCLUDE_VERMAGIC
#include <linux/build-salt.h>
#include <linux/elfnote-lto.h>
#include <linux/export-internal.h>
#include <linux/vermagic.h>
#include <linux/compiler.h>

BUILD_SALT;
BUILD_LTO_INFO;

MODULE_INFO(vermagic, VERMAGIC_STRING);
MODULE_INFO(name, KBUILD_MODNAME);

__visible struct module __this_module
__section(".gnu.linkonce.this_module") = {
	.name = KBUILD_MODNAME,
	.init = init_module,
#ifdef CONFIG_MODULE_UNLOAD
	.exit = cleanup_module,
#endif
	.arch = MODULE_ARCH_INIT,
};

#ifdef CONFIG_RETPOLINE
MODULE_INFO(retpoline, "Y");
#endif


static const struct modversion_info ____versions[]
__used __section("__versions") = {
	{ 0x88db9f48, "__check_object_size" },
	{ 0x29b4fcf, "_copy_to_iter" },
	{ 0x47978cc, "misc_deregister" },
	{ 0x91c14d8d, "param_ops_uint" },
	{ 0x13c49cc2, "_copy_from_user" },
	{ 0x941f2aaa, "eventfd_ctx_put" },
	{ 0xa6257a2f, "complete" },
	{ 0x4d2b1755, "cgroup_attach_task_all" },
	{ 0x8f9c199c, "__get_user_2" },
	{ 0x608741b5, "__init_swait_queue_head" },
	{ 0x8f6a444c, "tap_get_socket" },
	{ 0x5a4896a8, "__put_user_2" },
	{ 0xe9104396, "iov_iter_advance" },
	{ 0x7d27d33f, "fget" },
	{ 0xdba89d03, "eventfd_fget" },
	{ 0x3b6c41ea, "kstrtouint" },
	{ 0x4afb2238, "add_wait_queue" },
	{ 0xb3f7646e, "kthread_should_stop" },
	{ 0x84fc8759, "iov_iter_init" },
	{ 0x37a479f9, "kthread_use_mm" },
	{ 0xbdfb6dbb, "__fentry__" },
	{ 0x70e470bf, "wake_up_process" },
	{ 0x65487097, "__x86_indirect_thunk_rax" },
	{ 0x92997ed8, "_printk" },
	{ 0x1d24c881, "___ratelimit" },
	{ 0x1000e51, "schedule" },
	{ 0x4d06a092, "param_get_uint" },
	{ 0xa19b956, "__stack_chk_fail" },
	{ 0x74752c8d, "tun_get_socket" },
	{ 0xddb1cd7, "llist_reverse_order" },
	{ 0x599fb41c, "kvmalloc_node" },
	{ 0x3ef022ec, "compat_ptr_ioctl" },
	{ 0xa1194a8a, "fput" },
	{ 0xb7c0f443, "sort" },
	{ 0x505f95b0, "noop_llseek" },
	{ 0x4dfa8d4b, "mutex_lock" },
	{ 0x265757e, "iov_iter_kvec" },
	{ 0x20ba7fb1, "get_task_mm" },
	{ 0xd67364f7, "eventfd_ctx_fdget" },
	{ 0xe0934051, "kthread_stop" },
	{ 0xcefb0c9f, "__mutex_init" },
	{ 0x68fb37ae, "current_task" },
	{ 0x844c8938, "misc_register" },
	{ 0x25974000, "wait_for_completion" },
	{ 0x5b8239ca, "__x86_return_thunk" },
	{ 0x6b10bee1, "_copy_to_user" },
	{ 0xe771160f, "kthread_create_on_node" },
	{ 0x30b9b182, "mmput" },
	{ 0x3213f038, "mutex_unlock" },
	{ 0x6729d3df, "__get_user_4" },
	{ 0x2ed6b7ec, "_copy_from_iter" },
	{ 0xc07351b3, "__SCT__cond_resched" },
	{ 0x37110088, "remove_wait_queue" },
	{ 0xcea12395, "kthread_unuse_mm" },
	{ 0xc7a1840e, "llist_add_batch" },
	{ 0xdf0f75c6, "eventfd_signal" },
	{ 0x7aa1756e, "kvfree" },
	{ 0x9060323f, "module_layout" },
};

MODULE_INFO(depends, "tap,tun");

