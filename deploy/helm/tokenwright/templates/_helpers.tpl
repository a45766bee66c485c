{{/* Names, labels and the checks every template relies on. */}}

{{- define "tokenwright.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tokenwright.fullname" -}}
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

{{- define "tokenwright.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tokenwright.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "tokenwright.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "tokenwright.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "tokenwright.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tokenwright.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "tokenwright.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
tokenwright.validate fails the rendering on values tokenwright would refuse
(or, for replicas on bbolt, silently corrupt), so the mistake shows at
`helm install`, not as a crash-looping pod.
*/}}
{{- define "tokenwright.validate" -}}
{{- $issuer := required "issuer is required: set it to the https URL clients and verifiers reach tokenwright at, e.g. --set issuer=https://idp.example.com (tokenwright listens on 0.0.0.0 in the pod and refuses to start without one)" .Values.issuer }}
{{- if not (hasPrefix "https://" $issuer) }}
{{- fail (printf "issuer must be an https URL (tokenwright refuses plain http except on loopback), got %q" $issuer) }}
{{- end }}
{{- $backend := .Values.store.backend }}
{{- if not (has $backend (list "bolt" "etcd")) }}
{{- fail (printf "store.backend must be bolt or etcd, got %q" $backend) }}
{{- end }}
{{- if and (eq $backend "bolt") (gt (int .Values.replicaCount) 1) }}
{{- fail (printf "replicaCount is %d but store.backend is bolt: a bbolt database has a single writer, so only one replica can use it. Set store.backend=etcd with store.etcd.endpoints for several replicas (docs/high-availability.md), or replicaCount=1" (int .Values.replicaCount)) }}
{{- end }}
{{- if lt (int .Values.replicaCount) 1 }}
{{- fail "replicaCount must be at least 1" }}
{{- end }}
{{- if eq $backend "etcd" }}
{{- if not .Values.store.etcd.endpoints }}
{{- fail "store.etcd.endpoints is required with store.backend=etcd: the client URLs of the etcd members, e.g. {https://etcd-0.etcd:2379,https://etcd-1.etcd:2379,https://etcd-2.etcd:2379}" }}
{{- end }}
{{- if not .Values.kek.existingSecret }}
{{- fail "kek.existingSecret is required with store.backend=etcd: every replica must unseal the signing keys with the same key-encryption key (kubectl create secret generic tokenwright-kek --from-literal=kek=$(openssl rand -base64 32))" }}
{{- end }}
{{- end }}
{{- range $k := list "listen" "issuer" "dataDir" "store" "etcd" "kek" "tls" "healthListen" "metricsListen" "metricsBearerTokenFile" "log" }}
{{- if hasKey $.Values.config $k }}
{{- fail (printf "config.%s is managed by the chart: set it through the chart's own values (see values.yaml), not under config" $k) }}
{{- end }}
{{- end }}
{{- if and .Values.serviceMonitor.enabled (not .Values.metrics.enabled) }}
{{- fail "serviceMonitor.enabled needs metrics.enabled: the ServiceMonitor scrapes the metrics port" }}
{{- end }}
{{- end }}

{{/* Where the chart mounts things in the container. */}}
{{- define "tokenwright.dataMount" }}/var/lib/tokenwright{{ end }}
{{- define "tokenwright.dataDir" }}/var/lib/tokenwright/data{{ end }}

{{/*
tokenwright.config is the configuration file: the settings the chart
manages beside .Values.config (which may not repeat them: validate). listen
and dataDir are not here: the image sets them in its environment, which wins
over the file, so the chart sets them there (see the pod's env); log.format
stays the image's json.
*/}}
{{- define "tokenwright.config" -}}
{{- $c := dict "issuer" .Values.issuer "store" .Values.store.backend "healthListen" (printf "0.0.0.0:%d" (int .Values.ports.health)) }}
{{- $_ := set $c "log" (dict "level" .Values.log.level) }}
{{- if eq .Values.store.backend "etcd" }}
{{- $e := .Values.store.etcd }}
{{- $etcd := dict "endpoints" $e.endpoints "prefix" $e.prefix "dialTimeout" $e.dialTimeout "requestTimeout" $e.requestTimeout "maxStaleness" $e.maxStaleness }}
{{- if $e.tls.existingSecret }}
{{- $tls := dict "ca" "/etc/tokenwright/etcd-tls/ca.crt" }}
{{- if $e.tls.clientCertificate }}
{{- $_ := set $tls "cert" "/etc/tokenwright/etcd-tls/tls.crt" }}
{{- $_ := set $tls "key" "/etc/tokenwright/etcd-tls/tls.key" }}
{{- end }}
{{- $_ := set $etcd "tls" $tls }}
{{- end }}
{{- $_ := set $c "etcd" $etcd }}
{{- end }}
{{- if .Values.kek.existingSecret }}
{{- $_ := set $c "kek" (dict "file" (printf "/etc/tokenwright/kek/%s" .Values.kek.key)) }}
{{- end }}
{{- if .Values.tls.existingSecret }}
{{- $_ := set $c "tls" (dict "cert" "/etc/tokenwright/tls/tls.crt" "key" "/etc/tokenwright/tls/tls.key") }}
{{- end }}
{{- if .Values.metrics.enabled }}
{{- $_ := set $c "metricsListen" (printf "0.0.0.0:%d" (int .Values.ports.metrics)) }}
{{- end }}
{{- if .Values.metrics.bearerToken.existingSecret }}
{{- $_ := set $c "metricsBearerTokenFile" (printf "/etc/tokenwright/metrics-token/%s" .Values.metrics.bearerToken.key) }}
{{- end }}
{{- $merged := merge $c (deepCopy .Values.config) }}
{{- toYaml $merged }}
{{- end }}
