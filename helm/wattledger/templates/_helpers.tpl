{{/*
Names and labels, the usual Helm conventions. Names are cut to 63 characters (DNS label limit).
*/}}
{{- define "wattledger.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "wattledger.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "wattledger.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "wattledger.selectorLabels" -}}
app.kubernetes.io/name: {{ include "wattledger.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "wattledger.labels" -}}
helm.sh/chart: {{ include "wattledger.chart" . }}
{{ include "wattledger.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: meter
{{- end }}

{{- define "wattledger.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "wattledger.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
An image reference: repository@digest when a digest is pinned, else repository:tag.
Call with (dict "image" .Values.image "default" .Chart.AppVersion).
*/}}
{{- define "wattledger.imageRef" -}}
{{- if .image.digest }}
{{- printf "%s@%s" .image.repository .image.digest }}
{{- else }}
{{- printf "%s:%s" .image.repository (default .default .image.tag) }}
{{- end }}
{{- end }}

{{/* The config file path inside the container; the systemd unit uses the same one. */}}
{{- define "wattledger.configPath" -}}/etc/wattledger/config.yaml{{- end }}

{{/* The ledger directory: config.ledger.dir, where the ledger volume is mounted. */}}
{{- define "wattledger.ledgerDir" -}}
{{- dig "ledger" "dir" "/var/lib/wattledger" .Values.config }}
{{- end }}

{{/* Where the host /sys is mounted: config.probes.sysfsRoot, so the two cannot disagree. */}}
{{- define "wattledger.sysfsRoot" -}}
{{- dig "probes" "sysfsRoot" "/sys" .Values.config }}
{{- end }}

{{- define "wattledger.signingKeyPath" -}}
{{- printf "%s/%s" (trimSuffix "/" .Values.signingKey.mountPath) .Values.signingKey.secretKey }}
{{- end }}

{{/*
The rendered daemon config: values.config plus the keys the chart owns because they must match its
volume mounts and ports.
*/}}
{{- define "wattledger.config" -}}
{{- $cfg := deepCopy .Values.config }}
{{- $ledger := default (dict) (get $cfg "ledger") }}
{{- $_ := set $ledger "dir" (include "wattledger.ledgerDir" .) }}
{{- $_ = set $cfg "ledger" $ledger }}
{{- /* The key is found through CREDENTIALS_DIRECTORY (see the DaemonSet), not keys.signingKeyPath:
     the kubelet adds group read for fsGroup, which wattledger accepts for a credential (others may
     not read it) but refuses for a plain key file (nobody but the owner may). */}}
{{- if .Values.api.enabled }}
{{- $api := default (dict) (get $cfg "api") }}
{{- if not (hasKey $api "listen") }}
{{- $_ = set $api "listen" (printf "0.0.0.0:%d" (int .Values.api.port)) }}
{{- end }}
{{- $_ = set $cfg "api" $api }}
{{- end }}
{{- if .Values.prometheus.enabled }}
{{- $prometheus := default (dict) (get $cfg "prometheus") }}
{{- $_ = set $prometheus "enabled" true }}
{{- if not (hasKey $prometheus "listen") }}
{{- $_ = set $prometheus "listen" (printf "0.0.0.0:%d" (int .Values.prometheus.port)) }}
{{- end }}
{{- $_ = set $cfg "prometheus" $prometheus }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}

{{/* Fails the render for combinations that would deploy a broken daemon. */}}
{{- define "wattledger.validate" -}}
{{- if and .Values.hostSysfs.enabled (eq (clean (include "wattledger.sysfsRoot" .)) "/sys") }}
{{- fail "config.probes.sysfsRoot must not be /sys when hostSysfs.enabled: the host's /sys is mounted there (use /host/sys)" }}
{{- end }}
{{- if and (eq .Values.ledger.type "existingClaim") (not .Values.ledger.existingClaim) }}
{{- fail "ledger.type is existingClaim but ledger.existingClaim is empty" }}
{{- end }}
{{- with .Values.updateStrategy }}
{{- if and (eq (toString .type) "RollingUpdate") (ne (toString (dig "rollingUpdate" "maxSurge" 0 .)) "0") }}
{{- fail "updateStrategy.rollingUpdate.maxSurge must be 0: a surge pod would run beside the old one and write the same node's ledger" }}
{{- end }}
{{- end }}
{{- if .Values.serviceMonitor.enabled }}
{{- if not .Values.prometheus.enabled }}
{{- fail "serviceMonitor.enabled needs prometheus.enabled: the ServiceMonitor scrapes the <fullname>-metrics Service" }}
{{- end }}
{{- if not (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1") }}
{{- fail "serviceMonitor.enabled, but the cluster has no monitoring.coreos.com/v1 API: install the prometheus-operator CRDs (with helm template: --api-versions monitoring.coreos.com/v1)" }}
{{- end }}
{{- end }}
{{- end }}
