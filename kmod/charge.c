// SPDX-License-Identifier: GPL-2.0-only
/*
 * tpio: what each user's ports make the kernel allocate.
 *
 * /dev/tpio is mode 0666, so any user can open ports and size them. Every
 * byte a port allocates (the struct at open, the areas and tables at SETUP,
 * one struct tpio_io per IO_CREATE) is charged to the memory cgroup of the
 * caller (GFP_KERNEL_ACCOUNT) and also to the user who opened the port,
 * here, against the max_user_mib module parameter: a charge that would take
 * the user's total over it fails with EDQUOT, unless the caller has
 * CAP_SYS_RESOURCE. Checked with one atomic add, no lock.
 *
 * A struct tpio_user exists while one of the user's ports does: each port
 * holds a reference, taken at open and dropped at release. The table and
 * the reference counts are protected by tpio_users_lock (open and release
 * only).
 */

#include <linux/capability.h>
#include <linux/hashtable.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>

#include "tpio.h"

struct tpio_user {
	struct hlist_node node;		/* in tpio_users */
	kuid_t uid;
	unsigned int refs;		/* ports; under tpio_users_lock */
	atomic64_t bytes;		/* charged now */
};

static DEFINE_HASHTABLE(tpio_users, 6);
static DEFINE_MUTEX(tpio_users_lock);

static unsigned int max_user_mib = 64;
module_param(max_user_mib, uint, 0644);
MODULE_PARM_DESC(max_user_mib,
		 "kernel memory the ports of one user may pin, MiB (0: no limit)");

struct tpio_user *tpio_user_get(kuid_t uid)
{
	u32 key = from_kuid(&init_user_ns, uid);
	struct tpio_user *user;

	mutex_lock(&tpio_users_lock);
	hash_for_each_possible(tpio_users, user, node, key) {
		if (uid_eq(user->uid, uid)) {
			user->refs++;
			goto out;
		}
	}
	user = kzalloc(sizeof(*user), GFP_KERNEL_ACCOUNT);
	if (user) {
		user->uid = uid;
		user->refs = 1;
		atomic64_set(&user->bytes, 0);
		hash_add(tpio_users, &user->node, key);
	}
out:
	mutex_unlock(&tpio_users_lock);
	return user;
}

void tpio_user_put(struct tpio_user *user)
{
	mutex_lock(&tpio_users_lock);
	if (!--user->refs) {
		/* every port of the user is gone: so is every charge */
		WARN_ON_ONCE(atomic64_read(&user->bytes));
		hash_del(&user->node);
		kfree(user);
	}
	mutex_unlock(&tpio_users_lock);
}

int tpio_charge(struct tpio_user *user, size_t bytes)
{
	u64 limit = (u64)READ_ONCE(max_user_mib) << 20;
	u64 total = atomic64_add_return(bytes, &user->bytes);

	if (limit && total > limit && !capable(CAP_SYS_RESOURCE)) {
		atomic64_sub(bytes, &user->bytes);
		return -EDQUOT;
	}
	return 0;
}

void tpio_uncharge(struct tpio_user *user, size_t bytes)
{
	WARN_ON_ONCE(atomic64_sub_return(bytes, &user->bytes) < 0);
}

u64 tpio_user_charged(struct tpio_user *user)
{
	return atomic64_read(&user->bytes);
}

int tpio_users_init(void)
{
	hash_init(tpio_users);
	return 0;
}

/* At module exit no port exists: any entry left is a leak. */
void tpio_users_exit(void)
{
	struct tpio_user *user;
	struct hlist_node *tmp;
	int bkt;

	hash_for_each_safe(tpio_users, bkt, tmp, user, node) {
		pr_err("tpio: user %u still holds %u ports, %lld bytes\n",
		       from_kuid(&init_user_ns, user->uid), user->refs,
		       (long long)atomic64_read(&user->bytes));
		WARN_ON_ONCE(1);
		hash_del(&user->node);
		kfree(user);
	}
}
