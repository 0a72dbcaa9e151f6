// SPDX-License-Identifier: MIT
/*
 * Another library of the process, with its own Win32-named functions (as a
 * Windows compatibility layer would have): bare Sleep and CloseHandle with
 * other behaviour than libtpio's. It does not include tpio.h.
 */
int other_sleeps, other_closes;

void Sleep(unsigned int ms);
int CloseHandle(void *h);
void other_use(void);

void Sleep(unsigned int ms)
{
	(void)ms;
	other_sleeps++;
}

int CloseHandle(void *h)
{
	(void)h;
	other_closes++;
	return 42;
}

void other_use(void)
{
	Sleep(1000000);
	CloseHandle((void *)0x10);
}
