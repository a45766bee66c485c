//go:build windows

package ownerfile

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
)

// descriptor is the owner-only security descriptor for a new file or
// directory: a protected DACL ("P": nothing inherited from the parent)
// granting full access to the current user, SYSTEM and the built-in
// Administrators. For directories the entries are inherited by what is
// created inside ("OICI"), so bbolt's file and temporary files in the data
// directory are owner-only from their creation.
func descriptor(dir bool) (*windows.SECURITY_DESCRIPTOR, error) {
	user, err := currentUser()
	if err != nil {
		return nil, err
	}
	inherit := ""
	if dir {
		inherit = "OICI"
	}
	sddl := fmt.Sprintf("D:P(A;%[1]s;FA;;;%[2]s)(A;%[1]s;FA;;;SY)(A;%[1]s;FA;;;BA)", inherit, user.String())
	return windows.SecurityDescriptorFromString(sddl)
}

// currentUser is the SID of the user the process runs as (LocalSystem for
// a service installed with the defaults).
func currentUser() (*windows.SID, error) {
	tu, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return nil, fmt.Errorf("ownerfile: reading the process user: %w", err)
	}
	return tu.User.Sid.Copy()
}

func mkdirAll(dir string) error {
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return &os.PathError{Op: "mkdir", Path: dir, Err: syscall.ENOTDIR}
		}
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return restrict(dir)
}

func openFile(path string, flag int) (*os.File, error) {
	sd, err := descriptor(false)
	if err != nil {
		return nil, err
	}
	sa := &windows.SecurityAttributes{Length: uint32(unsafe.Sizeof(windows.SecurityAttributes{})), SecurityDescriptor: sd}
	var access uint32
	switch flag & (os.O_RDONLY | os.O_WRONLY | os.O_RDWR) {
	case os.O_WRONLY:
		access = windows.GENERIC_WRITE
	case os.O_RDWR:
		access = windows.GENERIC_READ | windows.GENERIC_WRITE
	default:
		access = windows.GENERIC_READ
	}
	if flag&os.O_APPEND != 0 {
		access = access&^windows.GENERIC_WRITE | windows.FILE_APPEND_DATA
	}
	var disposition uint32
	switch {
	case flag&(os.O_CREATE|os.O_EXCL) == os.O_CREATE|os.O_EXCL:
		disposition = windows.CREATE_NEW
	case flag&(os.O_CREATE|os.O_TRUNC) == os.O_CREATE|os.O_TRUNC:
		disposition = windows.CREATE_ALWAYS
	case flag&os.O_CREATE != 0:
		disposition = windows.OPEN_ALWAYS
	case flag&os.O_TRUNC != 0:
		disposition = windows.TRUNCATE_EXISTING
	default:
		disposition = windows.OPEN_EXISTING
	}
	name, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	h, err := windows.CreateFile(name, access, windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE,
		sa, disposition, windows.FILE_ATTRIBUTE_NORMAL, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	// CREATE_ALWAYS and OPEN_ALWAYS keep an existing file's DACL: make it
	// owner-only too, as Unix's Chmod after open does.
	if flag&os.O_CREATE != 0 && flag&os.O_EXCL == 0 {
		if err := restrict(path); err != nil {
			windows.CloseHandle(h)
			return nil, err
		}
	}
	return os.NewFile(uintptr(h), path), nil
}

func restrict(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	sd, err := descriptor(fi.IsDir())
	if err != nil {
		return err
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return err
	}
	err = windows.SetNamedSecurityInfo(path, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil)
	if err != nil {
		return &os.PathError{Op: "restrict", Path: path, Err: err}
	}
	return nil
}

func exposed(path string) (bool, error) {
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.OWNER_SECURITY_INFORMATION)
	if err != nil {
		return false, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	dacl, _, err := sd.DACL()
	if errors.Is(err, windows.ERROR_OBJECT_NOT_FOUND) || dacl == nil {
		return true, nil // no DACL: everyone has full access
	}
	if err != nil {
		return false, err
	}
	trusted := []*windows.SID{}
	if owner, _, err := sd.Owner(); err == nil && owner != nil {
		trusted = append(trusted, owner)
	}
	if user, err := currentUser(); err == nil {
		trusted = append(trusted, user)
	}
	for _, t := range []windows.WELL_KNOWN_SID_TYPE{windows.WinLocalSystemSid, windows.WinBuiltinAdministratorsSid} {
		if sid, err := windows.CreateWellKnownSid(t); err == nil {
			trusted = append(trusted, sid)
		}
	}
	for i := uint32(0); i < uint32(dacl.AceCount); i++ {
		var ace *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, i, &ace); err != nil {
			return false, err
		}
		if ace.Header.AceType != windows.ACCESS_ALLOWED_ACE_TYPE {
			continue // deny entries only take away
		}
		if ace.Header.AceFlags&windows.INHERIT_ONLY_ACE != 0 {
			continue // applies to what is created inside, not to path
		}
		sid := (*windows.SID)(unsafe.Pointer(&ace.SidStart))
		ok := false
		for _, t := range trusted {
			if sid.Equals(t) {
				ok = true
			}
		}
		if !ok {
			return true, nil
		}
	}
	return false, nil
}

func fixCommand(path string, dir bool) string {
	perm := "F"
	if dir {
		perm = "(OI)(CI)F"
	}
	// cmd.exe syntax (%USERNAME% is the user the server runs as).
	return fmt.Sprintf(`icacls "%s" /inheritance:r /grant:r %%USERNAME%%:%[2]s SYSTEM:%[2]s Administrators:%[2]s`, path, perm)
}
