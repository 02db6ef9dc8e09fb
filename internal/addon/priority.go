package addon

import (
	"fmt"
	"strconv"
	"strings"
)

// PriorityWrapper turns the NICE_ADJUSTMENT, IONICE_CLASS and IONICE_CLASS_DATA variables the
// operator sets from runtimeSettings.container into a command prefix for mysqldump, mysql and
// restic: `nice -n N ionice -t -c C -n D`. Both tools exec their command, so signals and exit
// statuses are those of the real process. ionice's -t keeps a class the pod may not use (the
// real-time class needs a capability) from failing the backup.
func PriorityWrapper(env []string) ([]string, error) {
	vars := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "NICE_ADJUSTMENT", "IONICE_CLASS", "IONICE_CLASS_DATA":
			vars[k] = strings.TrimSpace(v)
		}
	}
	var w []string
	if v := vars["NICE_ADJUSTMENT"]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < -20 || n > 19 {
			return nil, fmt.Errorf("NICE_ADJUSTMENT %q is not a niceness between -20 and 19", v)
		}
		w = append(w, "nice", "-n", strconv.Itoa(n))
	}
	if c := vars["IONICE_CLASS"]; c != "" {
		class, err := strconv.Atoi(c)
		if err != nil || class < 0 || class > 3 {
			return nil, fmt.Errorf("IONICE_CLASS %q is not an I/O scheduling class between 0 and 3", c)
		}
		w = append(w, "ionice", "-t", "-c", strconv.Itoa(class))
		if d := vars["IONICE_CLASS_DATA"]; d != "" && (class == 1 || class == 2) {
			data, err := strconv.Atoi(d)
			if err != nil || data < 0 || data > 7 {
				return nil, fmt.Errorf("IONICE_CLASS_DATA %q is not a priority between 0 and 7", d)
			}
			w = append(w, "-n", strconv.Itoa(data))
		}
	}
	return w, nil
}
